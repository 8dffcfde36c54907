import { sql } from 'drizzle-orm';
import { bigint, check, integer, pgEnum, pgTable, text, timestamp, unique, uuid } from 'drizzle-orm/pg-core';
import { accounts } from './accounts.table';

export const budgetScope = pgEnum('budget_scope', ['account', 'api_key', 'project']);

/**
 * A monthly budget (calendar months, UTC) for a whole account, one of its API keys or one of its
 * projects. Crossing a threshold (percent of the amount) raises one alert per period.
 */
export const budgets = pgTable(
  'budgets',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    accountId: uuid('account_id')
      .notNull()
      .references(() => accounts.id),
    scope: budgetScope('scope').notNull(),
    /** The API key or project id; null for the account scope. */
    scopeId: uuid('scope_id'),
    amountMicros: bigint('amount_micros', { mode: 'bigint' }).notNull(),
    /** Whole percents, ascending. */
    thresholds: integer('thresholds')
      .array()
      .notNull()
      .default(sql`'{50,75,90,100}'::integer[]`),
    /** Extra recipients besides the account's billing email. */
    recipients: text('recipients')
      .array()
      .notNull()
      .default(sql`'{}'::text[]`),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [
    unique('budgets_scope_key').on(table.accountId, table.scope, table.scopeId).nullsNotDistinct(),
    check('budgets_amount_positive', sql`${table.amountMicros} > 0`),
    check('budgets_scope_id', sql`(${table.scope} = 'account') = (${table.scopeId} is null)`),
  ],
);

export type Budget = typeof budgets.$inferSelect;
