import { sql } from 'drizzle-orm';
import {
  bigint,
  boolean,
  check,
  customType,
  date,
  index,
  integer,
  jsonb,
  pgEnum,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { accounts } from './accounts.table';
import { creditPurchases } from './credit-purchases.table';

const pgSnapshot = customType<{ data: string }>({ dataType: () => 'pg_snapshot' });

export const invoiceKind = pgEnum('invoice_kind', ['purchase', 'auto_reload', 'usage_statement']);
export const invoiceStatus = pgEnum('invoice_status', ['paid', 'open', 'overdue', 'void']);

/** The bill-to block as it was when the invoice was issued. */
export interface InvoiceBillTo {
  name: string;
  email: string;
  address_line1: string | null;
  address_line2: string | null;
  city: string | null;
  region: string | null;
  postal_code: string | null;
  country: string | null;
  tax_id: string | null;
}

/**
 * An issued invoice: one per credit purchase or auto-reload (issued in the credit's transaction)
 * and one per month of enterprise usage. Amounts are micros of whole cents; everything printed
 * on the PDF is stored here, so re-rendering gives the same bytes.
 */
export const invoices = pgTable(
  'invoices',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    accountId: uuid('account_id')
      .notNull()
      .references(() => accounts.id),
    /** INV-<year>-<sequence, six digits>. */
    number: text('number').notNull(),
    issueYear: integer('issue_year').notNull(),
    sequence: integer('sequence').notNull(),
    kind: invoiceKind('kind').notNull(),
    status: invoiceStatus('status').notNull(),
    currency: text('currency').notNull().default('usd'),
    issuedAt: timestamp('issued_at', { withTimezone: true }).notNull(),
    /** When the money moved (payment success) or, for usage statements, the period's end. */
    transactionAt: timestamp('transaction_at', { withTimezone: true }).notNull(),
    /** Net terms only. */
    dueDate: date('due_date'),
    periodStart: date('period_start'),
    periodEnd: date('period_end'),
    purchaseId: uuid('purchase_id').references(() => creditPurchases.id),
    subtotalMicros: bigint('subtotal_micros', { mode: 'bigint' }).notNull(),
    discountMicros: bigint('discount_micros', { mode: 'bigint' })
      .notNull()
      .default(sql`0`),
    taxMicros: bigint('tax_micros', { mode: 'bigint' }).notNull(),
    totalMicros: bigint('total_micros', { mode: 'bigint' }).notNull(),
    /** US-CA, DE, ... ; null when no tax applies. */
    taxJurisdiction: text('tax_jurisdiction'),
    /** Parts per million: 7.25 % is 72500. */
    taxRatePpm: integer('tax_rate_ppm').notNull().default(0),
    taxExempt: boolean('tax_exempt').notNull().default(false),
    billTo: jsonb('bill_to').$type<InvoiceBillTo>().notNull(),
    cardBrand: text('card_brand'),
    cardLast4: text('card_last4'),
    purchaseOrderNumber: text('purchase_order_number'),
    billingReference: text('billing_reference'),
    /** S3 key of the rendered PDF and its SHA-256 (hex), set by the invoice worker. */
    /**
     * Usage statements: the snapshot (pg_current_snapshot()) their usage was read in. Events it
     * does not see were committed after it and belong on the account's next statement. Null on
     * statements from before migration 0005.
     */
    usageSnapshot: pgSnapshot('usage_snapshot'),
    pdfKey: text('pdf_key'),
    pdfSha256: text('pdf_sha256'),
    pdfRenderedAt: timestamp('pdf_rendered_at', { withTimezone: true }),
    /**
     * The status the stored PDF shows (it prints a badge and, until paid, the amount due). The
     * render sweep draws again an invoice whose status has moved on since (a crash between the
     * status change and queuing its re-render).
     */
    pdfStatus: invoiceStatus('pdf_status'),
    paidAt: timestamp('paid_at', { withTimezone: true }),
    voidedAt: timestamp('voided_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [
    uniqueIndex('invoices_number_key').on(table.number),
    uniqueIndex('invoices_year_sequence_key').on(table.issueYear, table.sequence),
    uniqueIndex('invoices_purchase_key').on(table.purchaseId),
    // One usage statement per account and month, however often the monthly job runs.
    uniqueIndex('invoices_statement_period_key')
      .on(table.accountId, table.periodStart)
      .where(sql`${table.kind} = 'usage_statement'`),
    index('invoices_account_issued_idx').on(table.accountId, table.issuedAt),
    index('invoices_status_due_idx').on(table.status, table.dueDate),
    // What the render sweep looks for: no PDF yet, or one showing a status the invoice has left.
    index('invoices_pdf_due_idx')
      .on(table.createdAt)
      .where(sql`${table.pdfKey} is null or ${table.pdfStatus} is distinct from ${table.status}`),
    check(
      'invoices_total_adds_up',
      sql`${table.totalMicros} = ${table.subtotalMicros} - ${table.discountMicros} + ${table.taxMicros}`,
    ),
  ],
);

export type Invoice = typeof invoices.$inferSelect;
