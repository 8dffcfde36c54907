import { sql } from 'drizzle-orm';
import { bigint, boolean, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { accounts } from './accounts.table';

/** Per-account alert preferences. Payment and security notices ignore `nonEssentialEnabled`. */
export const alertSettings = pgTable('alert_settings', {
  accountId: uuid('account_id')
    .primaryKey()
    .references(() => accounts.id),
  /** Alert when the balance falls below this; null = no low-balance alert. */
  lowBalanceMicros: bigint('low_balance_micros', { mode: 'bigint' }),
  /** Budget and low-balance alerts; auto-reload, payment, invoice and security notices always go. */
  nonEssentialEnabled: boolean('non_essential_enabled').notNull().default(true),
  /** Extra recipients besides the account's billing email. */
  recipients: text('recipients')
    .array()
    .notNull()
    .default(sql`'{}'::text[]`),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});

export type AlertSettings = typeof alertSettings.$inferSelect;
