import { sql } from 'drizzle-orm';
import { bigint, pgTable, primaryKey, smallint, timestamp, uuid } from 'drizzle-orm/pg-core';
import { accounts } from './accounts.table';

/**
 * Running balance in micros, split over BALANCE_SHARDS rows per account: a usage batch adds its
 * debit to one shard (chosen by batch), so concurrent batches of a busy account do not queue on a
 * single row lock. The account's balance is the sum of its shards, and every shard changes only
 * in the same transaction as the ledger row that explains the change, so the sum always equals
 * the sum of the account's ledger entries. All shards exist from the account's creation.
 */
export const BALANCE_SHARDS = 8;

export const accountBalances = pgTable(
  'account_balances',
  {
    accountId: uuid('account_id')
      .notNull()
      .references(() => accounts.id),
    shard: smallint('shard').notNull(),
    balanceMicros: bigint('balance_micros', { mode: 'bigint' })
      .notNull()
      .default(sql`0`),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [primaryKey({ name: 'account_balances_pkey', columns: [table.accountId, table.shard] })],
);

export type AccountBalance = typeof accountBalances.$inferSelect;
