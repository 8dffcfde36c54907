import { DATABASE, DatabaseHandle } from '@app/db';
import { formatUsd, MICROS_PER_USD } from '@app/money';
import { CsvColumn, EXPORT_CURSOR_ROWS, ExportRange, openCsvStream } from '@app/usage';
import { Inject, Injectable } from '@nestjs/common';
import { Readable } from 'node:stream';

interface InvoiceCsvRow {
  id: string;
  number: string;
  issued_at: string;
  transaction_at: string;
  due_date: string | null;
  period_start: string | null;
  period_end: string | null;
  kind: string;
  status: string;
  currency: string;
  subtotal_micros: bigint;
  discount_micros: bigint;
  tax_micros: bigint;
  tax_rate_ppm: number;
  tax_jurisdiction: string | null;
  tax_exempt: boolean;
  total_micros: bigint;
  card_brand: string | null;
  card_last4: string | null;
  purchase_order_number: string | null;
  billing_reference: string | null;
}

/**
 * An invoice amount as dollars and cents ("12.34"), the way the invoice prints it. Invoice amounts
 * are whole cents by construction (libs/invoices issue); should one ever not be, all six decimals
 * are written rather than rounding money away.
 */
export function formatInvoiceAmount(micros: bigint): string {
  if (micros % 10_000n !== 0n) return formatUsd(micros);
  const negative = micros < 0n;
  const abs = negative ? -micros : micros;
  const cents = ((abs % MICROS_PER_USD) / 10_000n).toString().padStart(2, '0');
  return `${negative ? '-' : ''}${abs / MICROS_PER_USD}.${cents}`;
}

/** A rate in parts per million as a percentage with four decimals: 72500 -> "7.2500". */
export function formatTaxRatePercent(ppm: number): string {
  return `${Math.trunc(ppm / 10_000)}.${String(ppm % 10_000).padStart(4, '0')}`;
}

/** The columns of invoices.csv; `total = subtotal - discount + tax` on every row. */
export const INVOICES_CSV_COLUMNS: readonly CsvColumn<InvoiceCsvRow>[] = [
  { header: 'number', value: (row) => row.number },
  { header: 'issued_at', value: (row) => row.issued_at },
  { header: 'transaction_at', value: (row) => row.transaction_at },
  { header: 'due_date', value: (row) => row.due_date },
  { header: 'kind', value: (row) => row.kind },
  { header: 'status', value: (row) => row.status },
  { header: 'currency', value: (row) => row.currency.toUpperCase() },
  { header: 'subtotal', value: (row) => formatInvoiceAmount(row.subtotal_micros) },
  { header: 'discount', value: (row) => formatInvoiceAmount(row.discount_micros) },
  { header: 'tax', value: (row) => formatInvoiceAmount(row.tax_micros) },
  { header: 'tax_rate_percent', value: (row) => formatTaxRatePercent(row.tax_rate_ppm) },
  { header: 'tax_jurisdiction', value: (row) => row.tax_jurisdiction },
  { header: 'tax_exempt', value: (row) => row.tax_exempt },
  { header: 'total', value: (row) => formatInvoiceAmount(row.total_micros) },
  { header: 'card_brand', value: (row) => row.card_brand },
  { header: 'card_last4', value: (row) => row.card_last4 },
  { header: 'purchase_order_number', value: (row) => row.purchase_order_number, clientText: true },
  { header: 'billing_reference', value: (row) => row.billing_reference, clientText: true },
  { header: 'period_start', value: (row) => row.period_start },
  { header: 'period_end', value: (row) => row.period_end },
  { header: 'invoice_id', value: (row) => row.id },
];

/** One account's invoices as CSV, by issue time, streamed from a Postgres cursor. */
@Injectable()
export class InvoicesCsvExport {
  constructor(@Inject(DATABASE) private readonly database: DatabaseHandle) {}

  /** Invoices with from <= issued_at < to, every status (void ones included, marked as such). */
  open(accountId: string, range: ExportRange): Promise<Readable> {
    const { sql } = this.database;
    const rows = sql<InvoiceCsvRow[]>`
      select id, number,
             to_char(issued_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as issued_at,
             to_char(transaction_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as transaction_at,
             due_date::text as due_date, period_start::text as period_start, period_end::text as period_end,
             kind::text as kind, status::text as status, currency,
             subtotal_micros, discount_micros, tax_micros, tax_rate_ppm, tax_jurisdiction, tax_exempt,
             total_micros, card_brand, card_last4, purchase_order_number, billing_reference
      from invoices
      where account_id = ${accountId}
        and issued_at >= ${range.from}
        and issued_at < ${range.to}
      order by issued_at, number`.cursor(EXPORT_CURSOR_ROWS);
    return openCsvStream(INVOICES_CSV_COLUMNS, rows);
  }
}
