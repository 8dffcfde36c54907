import { sql } from 'drizzle-orm';
import { bigint, boolean, integer, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { accounts } from './accounts.table';

/** Auto-reload: charge the default card `amount` when the balance falls below `threshold`. */
export const autoReloadSettings = pgTable('auto_reload_settings', {
  accountId: uuid('account_id')
    .primaryKey()
    .references(() => accounts.id),
  enabled: boolean('enabled').notNull().default(false),
  thresholdMicros: bigint('threshold_micros', { mode: 'bigint' }).notNull(),
  amountMicros: bigint('amount_micros', { mode: 'bigint' }).notNull(),
  /** Most auto-reload credits per calendar month (UTC); null = no cap. */
  monthlyCapMicros: bigint('monthly_cap_micros', { mode: 'bigint' }),
  /** Failures in a row; three pause auto-reload until the card changes or a purchase succeeds. */
  consecutiveFailures: integer('consecutive_failures').notNull().default(0),
  pausedAt: timestamp('paused_at', { withTimezone: true }),
  /** 'dispute' for a disputed charge (ends when the owner turns auto-reload on), else the failures. */
  pausedReason: text('paused_reason'),
  updatedAt: timestamp('updated_at', { withTimezone: true })
    .notNull()
    .default(sql`now()`),
});

export type AutoReloadSettings = typeof autoReloadSettings.$inferSelect;
