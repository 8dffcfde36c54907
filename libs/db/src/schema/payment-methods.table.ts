import { sql } from 'drizzle-orm';
import { boolean, index, integer, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { accounts } from './accounts.table';

/**
 * Cards saved with Stripe, as far as we need them: what to show (brand, last4, expiry) and which
 * one auto-reload charges. Card numbers never reach us; Stripe.js tokenises them on the client.
 */
export const paymentMethods = pgTable(
  'payment_methods',
  {
    /** Stripe's PaymentMethod id (pm_...). */
    id: text('id').primaryKey(),
    accountId: uuid('account_id')
      .notNull()
      .references(() => accounts.id),
    brand: text('brand').notNull(),
    last4: text('last4').notNull(),
    expMonth: integer('exp_month').notNull(),
    expYear: integer('exp_year').notNull(),
    isDefault: boolean('is_default').notNull().default(false),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    /** Removed (by the account or in Stripe); kept so purchases keep their reference. */
    detachedAt: timestamp('detached_at', { withTimezone: true }),
  },
  (table) => [
    index('payment_methods_account_idx').on(table.accountId, table.createdAt),
    uniqueIndex('payment_methods_one_default_key')
      .on(table.accountId)
      .where(sql`${table.isDefault} and ${table.detachedAt} is null`),
  ],
);

export type PaymentMethod = typeof paymentMethods.$inferSelect;
