import { Sql, Tx } from '@app/db';
import { INVOICE_COLUMNS, InvoiceRow } from '../http/invoice-view';
import { InvoiceDocument } from './invoice-document';

/** The invoice row with where its PDF is stored: the API's columns plus pdf_key. */
type InvoiceSourceRow = InvoiceRow & { pdf_key: string | null };

export interface InvoicePdfSource {
  document: InvoiceDocument;
  /** What is recorded now (null until the first render). */
  pdfKey: string | null;
  pdfSha256: string | null;
}

/** Reads an invoice and its lines, the only input of its PDF. */
export async function loadInvoicePdfSource(
  sql: Sql | Tx,
  invoiceId: string,
): Promise<InvoicePdfSource | null> {
  // Dates as text: they are calendar days, printed as stored, never shifted by a time zone.
  const [row] = await sql<InvoiceSourceRow[]>`
    select ${sql.unsafe(INVOICE_COLUMNS)}, pdf_key
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
