import { index, jsonb, pgEnum, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { accounts } from './accounts.table';

export const alertKind = pgEnum('alert_kind', [
  'budget_threshold',
  'low_balance',
  'auto_reload_succeeded',
  'auto_reload_declined',
  'auto_reload_action_required',
  'auto_reload_paused',
  'invoice_ready',
  'invoice_due',
  'invoice_overdue',
]);

/**
 * An alert raised once: the dedupe key names (account, kind, threshold, period or crossing), so
 * concurrent workers and retries raising the same alert insert one row.
 */
export const alerts = pgTable(
  'alerts',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    accountId: uuid('account_id')
      .notNull()
      .references(() => accounts.id),
    kind: alertKind('kind').notNull(),
    dedupeKey: text('dedupe_key').notNull(),
    /** The numbers the message states (amounts as decimal strings) and the projection. */
    details: jsonb('details').$type<Record<string, unknown>>().notNull(),
    raisedAt: timestamp('raised_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [
    uniqueIndex('alerts_dedupe_key').on(table.dedupeKey),
    index('alerts_account_raised_idx').on(table.accountId, table.raisedAt),
  ],
);

export type Alert = typeof alerts.$inferSelect;
