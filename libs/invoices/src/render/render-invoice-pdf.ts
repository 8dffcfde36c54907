import PDFDocument from 'pdfkit';
import { InvoiceDocument, SellerDetails } from './invoice-document';
import { InvoiceTextWriter } from './invoice-text-writer';
import {
  countryName,
  daysBetween,
  formatInvoiceDate,
  formatMoney,
  formatPaymentMethod,
  formatQuantity,
  formatRatePpm,
} from './invoice-format';

type Doc = PDFKit.PDFDocument;
/** The document and its text writer (fonts by content, see InvoiceTextWriter). */
interface Pdf {
  doc: Doc;
  write: InvoiceTextWriter;
}

const PAGE = { width: 612, height: 792 }; // US Letter, points
const MARGIN = 54;
const RIGHT = PAGE.width - MARGIN;
const CONTENT_WIDTH = RIGHT - MARGIN;
/** Below this the page is full: the table continues on a new page. */
const CONTENT_BOTTOM = PAGE.height - 90;

const INK = '#1f2328';
const MUTED = '#656d76';
const RULE = '#d0d7de';
const HEADER_FILL = '#f3f4f6';
const ACCENT = '#0b3d91';
const STATUS_COLORS: Record<InvoiceDocument['status'], string> = {
  paid: '#1a7f37',
  open: '#0969da',
  overdue: '#cf222e',
  void: '#6e7781',
};

const FONT = 'regular';
const BOLD = 'bold';

/** Table columns: description, quantity, amount (x and width). */
const COLUMNS = {
  description: { x: MARGIN + 10, width: 300 },
  quantity: { x: MARGIN + 320, width: 80 },
  amount: { x: RIGHT - 10 - 110, width: 110 },
};

/**
 * Draws one invoice as a PDF. Reproducible: only the invoice's own fields are printed; the
 * document dates are its issue time and pdfkit derives the trailer /ID from the info dictionary
 * (an MD5 of it), so the same row gives the same bytes. Text is in Helvetica (a standard font,
 * nothing embedded) unless it has characters outside WinAnsi; those strings are drawn in an
 * embedded DejaVu Sans subset whose tag and glyph order follow the drawing (InvoiceTextWriter).
 */
export function renderInvoicePdf(invoice: InvoiceDocument, seller: SellerDetails): Promise<Buffer> {
  const doc = new PDFDocument({
    size: 'LETTER',
    margins: { top: MARGIN, bottom: MARGIN, left: MARGIN, right: MARGIN },
    bufferPages: true,
    compress: true,
    info: {
      Title: `Invoice ${invoice.number}`,
      Author: seller.name,
      Subject: `Invoice ${invoice.number} for ${invoice.billTo.name}`,
      Creator: seller.name,
      Producer: 'pdfkit',
      CreationDate: invoice.issuedAt,
      ModDate: invoice.issuedAt,
    },
  });
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    doc.on('data', (chunk: Buffer) => chunks.push(chunk));
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
  });

  const pdf: Pdf = { doc, write: new InvoiceTextWriter(doc) };
  let y = drawHeader(pdf, invoice, seller);
  y = drawParties(pdf, invoice, y + 24);
  y = drawLines(pdf, invoice, y + 28);
  y = drawTotals(pdf, invoice, y + 10);
  drawTerms(pdf, invoice, seller, y + 28);
  drawFooters(pdf, invoice, seller);
  doc.end();
  return done;
}

function drawHeader({ doc, write }: Pdf, invoice: InvoiceDocument, seller: SellerDetails): number {
  write.font(BOLD, 18).color(ACCENT).text(seller.name, MARGIN, MARGIN, { width: 300 });
  let left = write.y + 4;
  write.font(FONT, 9).color(MUTED);
  for (const line of [...seller.addressLines, seller.email, seller.taxId ? `Tax ID: ${seller.taxId}` : '']) {
    if (!line) continue;
    write.text(line, MARGIN, left, { width: 300 });
    left = write.y + 1;
  }

  write
    .font(BOLD, 26)
    .color(INK)
    .text('INVOICE', RIGHT - 220, MARGIN - 4, { width: 220, align: 'right' });
  write
    .font(FONT, 11)
    .color(MUTED)
    .text(invoice.number, RIGHT - 220, write.y + 2, { width: 220, align: 'right' });
  const badgeY = write.y + 8;
  const label = invoice.status.toUpperCase();
  write.font(BOLD, 9);
  const badgeWidth = write.widthOf(label) + 20;
  doc.roundedRect(RIGHT - badgeWidth, badgeY, badgeWidth, 18, 9).fill(STATUS_COLORS[invoice.status]);
  write.color('#ffffff').text(label, RIGHT - badgeWidth, badgeY + 5, { width: badgeWidth, align: 'center' });

  const bottom = Math.max(left, badgeY + 18) + 16;
  doc.moveTo(MARGIN, bottom).lineTo(RIGHT, bottom).lineWidth(0.75).strokeColor(RULE).stroke();
  return bottom;
}

function billToLines(invoice: InvoiceDocument): string[] {
  const to = invoice.billTo;
  const cityLine = [to.city, [to.region, to.postal_code].filter(Boolean).join(' ')]
    .filter(Boolean)
    .join(', ');
  return [
    to.address_line1,
    to.address_line2,
    cityLine,
    to.country ? countryName(to.country) : null,
    to.email,
    to.tax_id ? `Tax ID: ${to.tax_id}` : null,
  ].filter((line): line is string => Boolean(line));
}

function drawParties({ write }: Pdf, invoice: InvoiceDocument, top: number): number {
  write.font(BOLD, 8).color(MUTED).text('BILL TO', MARGIN, top, { characterSpacing: 0.8 });
  write
    .font(BOLD, 11)
    .color(INK)
    .text(invoice.billTo.name, MARGIN, write.y + 4, { width: 240 });
  write.font(FONT, 9.5).color(INK);
  for (const line of billToLines(invoice)) write.text(line, MARGIN, write.y + 1.5, { width: 240 });
  const leftBottom = write.y;

  const details: [string, string | null][] = [
    ['Invoice number', invoice.number],
    ['Issue date', formatInvoiceDate(invoice.issuedAt)],
    ['Transaction date', formatInvoiceDate(invoice.transactionAt)],
    ['Due date', invoice.dueDate ? formatInvoiceDate(invoice.dueDate) : null],
    [
      'Service period',
      invoice.periodStart && invoice.periodEnd
        ? `${formatInvoiceDate(invoice.periodStart)} \u2013 ${formatInvoiceDate(invoice.periodEnd)}`
        : null,
    ],
    ['PO number', invoice.purchaseOrderNumber],
    ['Billing reference', invoice.billingReference],
    ['Payment method', formatPaymentMethod(invoice.cardBrand, invoice.cardLast4)],
  ];
  const labelX = MARGIN + 290;
  const valueX = labelX + 100;
  let rowY = top;
  for (const [label, value] of details) {
    if (!value) continue;
    write.font(FONT, 9).color(MUTED).text(label, labelX, rowY, { width: 95 });
    write
      .font(BOLD, 9)
      .color(INK)
      .text(value, valueX, rowY, { width: RIGHT - valueX, align: 'right' });
    rowY = write.y + 5;
  }
  return Math.max(leftBottom, rowY);
}

function drawTableHeader({ doc, write }: Pdf, top: number): number {
  doc.rect(MARGIN, top, CONTENT_WIDTH, 22).fill(HEADER_FILL);
  write.font(BOLD, 8).color(MUTED);
  const textY = top + 7.5;
  write.text('DESCRIPTION', COLUMNS.description.x, textY, {
    width: COLUMNS.description.width,
    characterSpacing: 0.6,
  });
  write.text('QTY', COLUMNS.quantity.x, textY, {
    width: COLUMNS.quantity.width,
    align: 'right',
    characterSpacing: 0.6,
  });
  write.text('AMOUNT', COLUMNS.amount.x, textY, {
    width: COLUMNS.amount.width,
    align: 'right',
    characterSpacing: 0.6,
  });
  return top + 22;
}

function drawLines(pdf: Pdf, invoice: InvoiceDocument, top: number): number {
  const { doc, write } = pdf;
  let y = drawTableHeader(pdf, top);
  for (const line of invoice.lines) {
    write.font(FONT, 9.5);
    const height = write.heightOf(line.description, { width: COLUMNS.description.width });
    if (y + height + 16 > CONTENT_BOTTOM) {
      doc.addPage();
      y = drawTableHeader(pdf, MARGIN);
    }
    const textY = y + 8;
    write
      .font(FONT, 9.5)
      .color(INK)
      .text(line.description, COLUMNS.description.x, textY, { width: COLUMNS.description.width });
    const quantity = line.model ? `${formatQuantity(line.quantity)} tokens` : formatQuantity(line.quantity);
    write.text(quantity, COLUMNS.quantity.x, textY, { width: COLUMNS.quantity.width, align: 'right' });
    write.text(formatMoney(line.amountMicros, invoice.currency), COLUMNS.amount.x, textY, {
      width: COLUMNS.amount.width,
      align: 'right',
    });
    y = textY + height + 8;
    doc.moveTo(MARGIN, y).lineTo(RIGHT, y).lineWidth(0.5).strokeColor(RULE).stroke();
  }
  return y;
}

function taxLabel(invoice: InvoiceDocument): string {
  if (invoice.taxExempt) return 'Tax (exempt)';
  if (!invoice.taxJurisdiction) return 'Tax';
  return `Tax (${invoice.taxJurisdiction} ${formatRatePpm(invoice.taxRatePpm)})`;
}

function drawTotals({ doc, write }: Pdf, invoice: InvoiceDocument, top: number): number {
  if (top + 120 > CONTENT_BOTTOM) {
    doc.addPage();
    top = MARGIN;
  }
  const labelX = MARGIN + 290;
  const width = RIGHT - 10 - labelX;
  const money = (micros: bigint) => formatMoney(micros, invoice.currency);
  const rows: [string, string][] = [['Subtotal', money(invoice.subtotalMicros)]];
  if (invoice.discountMicros > 0n) rows.push(['Volume discount', money(-invoice.discountMicros)]);
  rows.push([taxLabel(invoice), invoice.taxExempt ? 'Tax exempt' : money(invoice.taxMicros)]);

  let y = top + 6;
  for (const [label, value] of rows) {
    write
      .font(FONT, 9.5)
      .color(MUTED)
      .text(label, labelX, y, { width: width - 110 });
    write.color(INK).text(value, labelX, y, { width, align: 'right' });
    y = write.y + 6;
  }
  doc.moveTo(labelX, y).lineTo(RIGHT, y).lineWidth(0.75).strokeColor(INK).stroke();
  y += 8;
  write.font(BOLD, 12).color(INK).text(`Total (${invoice.currency.toUpperCase()})`, labelX, y);
  write.text(money(invoice.totalMicros), labelX, y, { width, align: 'right' });
  y = write.y + 8;

  const settled = invoice.status === 'paid';
  const balanceLabel = settled
    ? 'Amount paid'
    : invoice.status === 'void'
      ? 'Amount due (void)'
      : 'Amount due';
  const balance = invoice.status === 'void' ? 0n : invoice.totalMicros;
  doc.rect(labelX, y, RIGHT - labelX, 24).fill(HEADER_FILL);
  write
    .font(BOLD, 10)
    .color(settled ? STATUS_COLORS.paid : INK)
    .text(balanceLabel, labelX + 10, y + 7.5);
  write.text(money(balance), labelX, y + 7.5, { width, align: 'right' });
  return y + 24;
}

function termsText(invoice: InvoiceDocument, seller: SellerDetails): string[] {
  const card = formatPaymentMethod(invoice.cardBrand, invoice.cardLast4);
  const lines: string[] = [];
  if (invoice.status === 'void') lines.push('This invoice has been voided and is not payable.');
  if (invoice.status === 'paid') {
    const paidOn = formatInvoiceDate(invoice.paidAt ?? invoice.transactionAt);
    lines.push(card ? `Paid in full on ${paidOn} by ${card}.` : `Paid in full on ${paidOn}.`);
  } else if (invoice.dueDate) {
    const days = daysBetween(invoice.issuedAt, invoice.dueDate);
    lines.push(
      `Payment terms: net ${days} days. Please pay ${formatMoney(invoice.totalMicros, invoice.currency)} by ` +
        `${formatInvoiceDate(invoice.dueDate)} and quote invoice ${invoice.number} with your payment.`,
    );
  }
  if (invoice.kind === 'usage_statement') {
    lines.push(
      'Charges are for metered API usage in the service period, rated at the prices in effect when each request ran.',
    );
  } else {
    lines.push('Prepaid credits are added to your account balance and are drawn down by API usage.');
  }
  if (invoice.taxExempt) lines.push('No tax was charged: the customer holds an approved tax exemption.');
  lines.push(`Questions about this invoice: ${seller.email}.`);
  return lines;
}

function drawTerms({ doc, write }: Pdf, invoice: InvoiceDocument, seller: SellerDetails, top: number): void {
  const lines = termsText(invoice, seller);
  write.font(FONT, 9);
  const height = lines.reduce((sum, line) => sum + write.heightOf(line, { width: CONTENT_WIDTH }) + 3, 20);
  if (top + height > CONTENT_BOTTOM) {
    doc.addPage();
    top = MARGIN;
  }
  write.font(BOLD, 8).color(MUTED).text('TERMS AND NOTES', MARGIN, top, { characterSpacing: 0.8 });
  let y = write.y + 5;
  write.font(FONT, 9).color(INK);
  for (const line of lines) {
    write.text(line, MARGIN, y, { width: CONTENT_WIDTH });
    y = write.y + 3;
  }
}

function drawFooters({ doc, write }: Pdf, invoice: InvoiceDocument, seller: SellerDetails): void {
  const range = doc.bufferedPageRange();
  for (let index = 0; index < range.count; index++) {
    doc.switchToPage(range.start + index);
    // Drawn inside the bottom margin: lift the margin so pdfkit does not start a new page.
    const bottomMargin = doc.page.margins.bottom;
    doc.page.margins.bottom = 0;
    const y = PAGE.height - 40;
    doc
      .moveTo(MARGIN, y - 8)
      .lineTo(RIGHT, y - 8)
      .lineWidth(0.5)
      .strokeColor(RULE)
      .stroke();
    write.font(FONT, 8).color(MUTED);
    write.text(`${seller.name} \u00b7 Invoice ${invoice.number}`, MARGIN, y, {
      width: CONTENT_WIDTH / 2,
      lineBreak: false,
    });
    write.text(`Page ${index + 1} of ${range.count}`, MARGIN + CONTENT_WIDTH / 2, y, {
      width: CONTENT_WIDTH / 2,
      align: 'right',
      lineBreak: false,
    });
    doc.page.margins.bottom = bottomMargin;
  }
}
