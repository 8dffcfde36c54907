import { sql } from 'drizzle-orm';
import { index, integer, pgEnum, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { accounts } from './accounts.table';
import { alerts } from './alerts.table';

export const emailDeliveryStatus = pgEnum('email_delivery_status', [
  'pending',
  'sending',
  'sent',
  'failed',
  'suppressed',
]);

/**
 * One email to one recipient. (dedupe key, recipient) is unique, so an alert is mailed to each
 * recipient at most once however often its job runs; `sending` marks an SMTP attempt in flight.
 */
export const emailDeliveries = pgTable(
  'email_deliveries',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    accountId: uuid('account_id')
      .notNull()
      .references(() => accounts.id),
    alertId: uuid('alert_id').references(() => alerts.id),
    kind: text('kind').notNull(),
    dedupeKey: text('dedupe_key').notNull(),
    recipient: text('recipient').notNull(),
    status: emailDeliveryStatus('status').notNull().default('pending'),
    attempts: integer('attempts')
      .notNull()
      .default(sql`0`),
    smtpMessageId: text('smtp_message_id'),
    lastError: text('last_error'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
    sentAt: timestamp('sent_at', { withTimezone: true }),
  },
  (table) => [
    uniqueIndex('email_deliveries_dedupe_recipient_key').on(table.dedupeKey, table.recipient),
    index('email_deliveries_account_created_idx').on(table.accountId, table.createdAt),
    index('email_deliveries_status_idx').on(table.status),
  ],
);

export type EmailDelivery = typeof emailDeliveries.$inferSelect;
