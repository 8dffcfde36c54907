import { bigint, pgTable, primaryKey, smallint, timestamp, uuid } from 'drizzle-orm/pg-core';
import { accounts } from './accounts.table';

/**
 * Usage spend per account and UTC hour of the debits' `created_at`: the sum of
 * `-amount_micros` of the account's `usage` ledger rows of that hour, kept by the trigger
 * `ledger_entries_usage_spend` (drizzle/0008) in the same statement as the ledger insert, so every
 * snapshot that sees a ledger row sees it counted here. Window sums (month to date, budget seeds,
 * burn rates) read at most one row per shard and hour instead of one ledger row per batch.
 *
 * A transaction adds to the rows of one shard (its transaction id modulo 8, in the trigger), so
 * concurrent batches of a busy account seldom wait on the same row. The spend of an hour is the
 * sum of its shards.
 */
export const usageSpendHourly = pgTable(
  'usage_spend_hourly',
  {
    accountId: uuid('account_id')
      .notNull()
      .references(() => accounts.id),
    /** Start of the UTC hour. */
    hour: timestamp('hour', { withTimezone: true }).notNull(),
    shard: smallint('shard').notNull(),
    spendMicros: bigint('spend_micros', { mode: 'bigint' }).notNull(),
  },
  (table) => [
    primaryKey({ name: 'usage_spend_hourly_pkey', columns: [table.accountId, table.hour, table.shard] }),
  ],
);
