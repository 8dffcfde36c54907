import { date, index, integer, pgEnum, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { accounts } from './accounts.table';

/** expired: the zip was deleted INVOICE_EXPORT_RETENTION_DAYS after it was built. */
export const invoiceExportStatus = pgEnum('invoice_export_status', ['pending', 'ready', 'failed', 'expired']);

/** A zip of an account's invoice PDFs for a date range, built by a worker and stored in S3. */
export const invoiceExports = pgTable(
  'invoice_exports',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    accountId: uuid('account_id')
      .notNull()
      .references(() => accounts.id),
    fromDate: date('from_date').notNull(),
    toDate: date('to_date').notNull(),
    status: invoiceExportStatus('status').notNull().default('pending'),
    invoiceCount: integer('invoice_count'),
    objectKey: text('object_key'),
    sha256: text('sha256'),
    error: text('error'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    completedAt: timestamp('completed_at', { withTimezone: true }),
  },
  (table) => [index('invoice_exports_account_idx').on(table.accountId, table.createdAt)],
);

export type InvoiceExport = typeof invoiceExports.$inferSelect;
