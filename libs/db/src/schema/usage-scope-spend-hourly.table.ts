import { bigint, date, pgTable, primaryKey, smallint, text, timestamp, uuid } from 'drizzle-orm/pg-core';

/**
 * Usage spend per API key and per project, by UTC hour of `received_at` and UTC day of
 * `occurred_at`: the sum of `cost_micros` of the account's events with that key (scope `api_key`)
 * or project (scope `project`), kept by the trigger `usage_events_scope_spend` (drizzle/0009) in
 * the statement that inserts the events. A key's or project's budget month is whole hours of
 * `received_at`; a key limit's day, week or month is whole days of `occurred_at`: both read a few
 * rows per hour instead of every event of the account. Sharded like `usage_spend_hourly`.
 */
export const usageScopeSpendHourly = pgTable(
  'usage_scope_spend_hourly',
  {
    accountId: uuid('account_id').notNull(),
    /** 'api_key' or 'project' */
    scope: text('scope').notNull(),
    scopeId: text('scope_id').notNull(),
    /** Start of the UTC hour of the events' received_at. */
    receivedHour: timestamp('received_hour', { withTimezone: true }).notNull(),
    /** UTC day of the events' occurred_at. */
    occurredDay: date('occurred_day', { mode: 'string' }).notNull(),
    shard: smallint('shard').notNull(),
    spendMicros: bigint('spend_micros', { mode: 'bigint' }).notNull(),
  },
  (table) => [
    primaryKey({
      name: 'usage_scope_spend_hourly_pkey',
      columns: [
        table.accountId,
        table.scope,
        table.scopeId,
        table.receivedHour,
        table.occurredDay,
        table.shard,
      ],
    }),
  ],
);
