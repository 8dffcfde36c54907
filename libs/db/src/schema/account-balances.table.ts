import { sql } from 'drizzle-orm';
import { bigint, pgTable, timestamp, uuid } from 'drizzle-orm/pg-core';
import { accounts } from './accounts.table';

/**
 * Running balance per account in micros, changed only in the same transaction as the ledger
 * row that explains the change, so it always equals the sum of that account's ledger entries.
 */
export const accountBalances = pgTable('account_balances', {
  accountId: uuid('account_id')
    .primaryKey()
    .references(() => accounts.id),
  balanceMicros: bigint('balance_micros', { mode: 'bigint' })
    .notNull()
    .default(sql`0`),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});

export type AccountBalance = typeof accountBalances.$inferSelect;
