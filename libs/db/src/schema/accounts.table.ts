import { sql } from 'drizzle-orm';
import { bigint, check, index, pgEnum, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';

export const accountTier = pgEnum('account_tier', ['free', 'developer', 'enterprise']);
export const accountStatus = pgEnum('account_status', ['active', 'suspended', 'closed']);

export const accounts = pgTable(
  'accounts',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    name: text('name').notNull(),
    billingEmail: text('billing_email').notNull(),
    tier: accountTier('tier').notNull().default('free'),
    status: accountStatus('status').notNull().default('active'),
    /**
     * Credits ever bought (purchases and auto-reloads, before refunds), in micros. Free-model
     * daily limits rise once this reaches a threshold (libs/access); it only ever grows.
     */
    purchasedMicros: bigint('purchased_micros', { mode: 'bigint' })
      .notNull()
      .default(sql`0`),
    /** Stripe customer (cus_...), created when first needed. */
    stripeCustomerId: text('stripe_customer_id').unique(),
    /** Set when a charge is disputed: ops review the account (payments). */
    disputedAt: timestamp('disputed_at', { withTimezone: true }),
    /** Enterprise only: CIDRs (IPv4 or IPv6, normalised) allowed on account-facing routes; empty = any. */
    ipAllowlist: text('ip_allowlist')
      .array()
      .notNull()
      .default(sql`'{}'::text[]`),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    // Caches in ingest and workers sync incrementally on this column.
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [
    index('accounts_updated_at_idx').on(table.updatedAt),
    check('accounts_name_not_blank', sql`length(trim(${table.name})) > 0`),
  ],
);

export type Account = typeof accounts.$inferSelect;
export type NewAccount = typeof accounts.$inferInsert;
