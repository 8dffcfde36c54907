import { Invoice, InvoiceBillTo } from '@app/db';
import { formatUsd } from '@app/money';

/** The row as the query reads it (snake_case, like the other raw-SQL reads). */
export interface InvoiceRow {
  id: string;
  account_id: string;
  number: string;
  kind: Invoice['kind'];
  status: Invoice['status'];
  currency: string;
  issued_at: Date;
  transaction_at: Date;
  /** YYYY-MM-DD, read as text so no time zone can shift it. */
  due_date: string | null;
  period_start: string | null;
  period_end: string | null;
  purchase_id: string | null;
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
  pdf_sha256: string | null;
  pdf_rendered_at: Date | null;
  paid_at: Date | null;
  voided_at: Date | null;
}

export interface InvoiceLineRow {
  position: number;
  description: string;
  model: string | null;
  quantity: bigint;
  amount_micros: bigint;
}

export const INVOICE_COLUMNS =
  'id, account_id, number, kind, status, currency, issued_at, transaction_at, due_date::text as due_date, ' +
  'period_start::text as period_start, period_end::text as period_end, purchase_id, subtotal_micros, ' +
  'discount_micros, tax_micros, total_micros, tax_jurisdiction, tax_rate_ppm, tax_exempt, bill_to, card_brand, ' +
  'card_last4, purchase_order_number, billing_reference, pdf_sha256, pdf_rendered_at, paid_at, voided_at';

/** A rate in parts per million as a percentage string: 72500 -> "7.25", 0 -> "0". Exact, no float. */
export function formatRatePercent(ppm: number): string {
  const whole = Math.trunc(ppm / 10_000);
  const fraction = String(ppm % 10_000)
    .padStart(4, '0')
    .replace(/0+$/, '');
  return fraction ? `${whole}.${fraction}` : String(whole);
}

/** An invoice as the API shows it: money as decimal USD strings (I1), dates as ISO 8601. */
export function invoiceView(row: InvoiceRow, lines?: readonly InvoiceLineRow[]) {
  return {
    id: row.id,
    account_id: row.account_id,
    number: row.number,
    kind: row.kind,
    status: row.status,
    currency: row.currency.toUpperCase(),
    issued_at: row.issued_at.toISOString(),
    issue_date: row.issued_at.toISOString().slice(0, 10),
    transaction_at: row.transaction_at.toISOString(),
    due_date: row.due_date,
    period: row.period_start ? { start: row.period_start, end: row.period_end } : null,
    purchase_id: row.purchase_id,
    bill_to: {
      name: row.bill_to.name,
      email: row.bill_to.email,
      address: {
        line1: row.bill_to.address_line1,
        line2: row.bill_to.address_line2,
        city: row.bill_to.city,
        region: row.bill_to.region,
        postal_code: row.bill_to.postal_code,
        country: row.bill_to.country,
      },
      tax_id: row.bill_to.tax_id,
    },
    ...(lines
      ? {
          lines: lines.map((line) => ({
            position: line.position,
            description: line.description,
            model: line.model,
            quantity: line.quantity.toString(),
            amount: formatUsd(line.amount_micros),
          })),
        }
      : {}),
    subtotal: formatUsd(row.subtotal_micros),
    discount: formatUsd(row.discount_micros),
    tax: {
      jurisdiction: row.tax_jurisdiction,
      rate_percent: formatRatePercent(row.tax_rate_ppm),
      exempt: row.tax_exempt,
      amount: formatUsd(row.tax_micros),
    },
    total: formatUsd(row.total_micros),
    payment_method:
      row.card_brand || row.card_last4 ? { brand: row.card_brand, last4: row.card_last4 } : null,
    purchase_order_number: row.purchase_order_number,
    billing_reference: row.billing_reference,
    paid_at: row.paid_at?.toISOString() ?? null,
    voided_at: row.voided_at?.toISOString() ?? null,
    pdf: { ready: row.pdf_rendered_at !== null, sha256: row.pdf_sha256 },
  };
}

export type InvoiceView = ReturnType<typeof invoiceView>;
