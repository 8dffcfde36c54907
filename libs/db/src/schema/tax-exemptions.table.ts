import { index, pgEnum, pgTable, text, timestamp, uuid, bigint } from 'drizzle-orm/pg-core';
import { accounts } from './accounts.table';

export const taxExemptionStatus = pgEnum('tax_exemption_status', ['pending', 'approved', 'rejected']);

/**
 * A tax-exemption certificate uploaded by an account (the document lives in S3). Purchases made
 * after an admin approves it are exempt; invoices issued before stay as they were.
 */
export const taxExemptions = pgTable(
  'tax_exemptions',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    accountId: uuid('account_id')
      .notNull()
      .references(() => accounts.id),
    status: taxExemptionStatus('status').notNull().default('pending'),
    fileName: text('file_name').notNull(),
    contentType: text('content_type').notNull(),
    sizeBytes: bigint('size_bytes', { mode: 'number' }).notNull(),
    objectKey: text('object_key').notNull(),
    sha256: text('sha256').notNull(),
    uploadedAt: timestamp('uploaded_at', { withTimezone: true }).notNull().defaultNow(),
    reviewedAt: timestamp('reviewed_at', { withTimezone: true }),
    reviewNote: text('review_note'),
  },
  (table) => [index('tax_exemptions_account_idx').on(table.accountId, table.uploadedAt)],
);

export type TaxExemption = typeof taxExemptions.$inferSelect;
