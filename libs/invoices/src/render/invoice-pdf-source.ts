import { InvoiceBillTo, Sql } from '@app/db';
import { InvoiceDocument } from './invoice-document';

interface InvoiceRow {
  id: string;
  account_id: string;
  number: string;
  kind: InvoiceDocument['kind'];
  status: InvoiceDocument['status'];
  currency: string;
  issued_at: Date;
  transaction_at: Date;
  due_date: string | null;
  period_start: string | null;
  period_end: string | null;
  subtotal_micros: bigint;
  discount_micros: bigint;
  tax_micros: bigint;
  total_micros: bigint;
  tax_jurisdiction: string | null;
  tax_rate_ppm: number;
  tax_exempt: boolean;
  bill_to: InvoiceBillTo;
  card_brand: string | null;
  card_last4: string | null;
  purchase_order_number: string | null;
  billing_reference: string | null;
  paid_at: Date | null;
  pdf_key: string | null;
  pdf_sha256: string | null;
}

export interface InvoicePdfSource {
  document: InvoiceDocument;
  /** What is recorded now (null until the first render). */
  pdfKey: string | null;
  pdfSha256: string | null;
}

/** Reads an invoice and its lines, the only input of its PDF. */
export async function loadInvoicePdfSource(sql: Sql, invoiceId: string): Promise<InvoicePdfSource | null> {
  // Dates as text: they are calendar days, printed as stored, never shifted by a time zone.
  const [row] = await sql<InvoiceRow[]>`
    select id, account_id, number, kind, status, currency, issued_at, transaction_at,
           due_date::text as due_date, period_start::text as period_start, period_end::text as period_end,
           subtotal_micros, discount_micros, tax_micros, total_micros, tax_jurisdiction, tax_rate_ppm,
           tax_exempt, bill_to, card_brand, card_last4, purchase_order_number, billing_reference,
           paid_at, pdf_key, pdf_sha256
      from invoices where id = ${invoiceId}`;
  if (!row) return null;
  const lines = await sql<
    { description: string; model: string | null; quantity: bigint; amount_micros: bigint }[]
  >`
    select description, model, quantity, amount_micros from invoice_lines
     where invoice_id = ${invoiceId} order by position`;
  return {
    pdfKey: row.pdf_key,
    pdfSha256: row.pdf_sha256,
    document: {
      id: row.id,
      accountId: row.account_id,
      number: row.number,
      kind: row.kind,
      status: row.status,
      currency: row.currency,
      issuedAt: row.issued_at,
      transactionAt: row.transaction_at,
      dueDate: row.due_date,
      periodStart: row.period_start,
      periodEnd: row.period_end,
      subtotalMicros: row.subtotal_micros,
      discountMicros: row.discount_micros,
      taxMicros: row.tax_micros,
      totalMicros: row.total_micros,
      taxJurisdiction: row.tax_jurisdiction,
      taxRatePpm: row.tax_rate_ppm,
      taxExempt: row.tax_exempt,
      billTo: row.bill_to,
      cardBrand: row.card_brand,
      cardLast4: row.card_last4,
      purchaseOrderNumber: row.purchase_order_number,
      billingReference: row.billing_reference,
      paidAt: row.paid_at,
      lines: lines.map((line) => ({
        description: line.description,
        model: line.model,
        quantity: line.quantity,
        amountMicros: line.amount_micros,
      })),
    },
  };
}
