import { sql } from 'drizzle-orm';
import { bigint, check, index, integer, pgEnum, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';

export const accountTier = pgEnum('account_tier', ['free', 'developer', 'enterprise']);
export const accountStatus = pgEnum('account_status', ['active', 'suspended', 'closed']);
/** prepaid: credits bought up front; invoice: enterprise net terms, usage runs on credit and is invoiced monthly. */
export const billingMode = pgEnum('billing_mode', ['prepaid', 'invoice']);

export const accounts = pgTable(
  'accounts',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    name: text('name').notNull(),
    billingEmail: text('billing_email').notNull(),
    tier: accountTier('tier').notNull().default('free'),
    /**
     * When the account took its current tier (the changing transaction's now()); null while it
     * has the tier it was created with. Ingest refuses a paid model of a Free account only for
     * usage that occurred from then on: what ran before a downgrade ran on a paid tier.
     */
    tierChangedAt: timestamp('tier_changed_at', { withTimezone: true }),
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
    billingMode: billingMode('billing_mode').notNull().default('prepaid'),
    /** Invoice billing: net terms in days (15, 30 or 60). */
    paymentTermsDays: integer('payment_terms_days'),
    /**
     * Invoice billing: how far below zero the balance may run before requests are refused. The
     * monthly invoice's payment brings the balance back up.
     */
    creditLimitMicros: bigint('credit_limit_micros', { mode: 'bigint' })
      .notNull()
      .default(sql`0`),
    /**
     * Invoice billing: when the account last switched to it from prepaid (the switching
     * transaction's now(), the clock usage_events.persisted_at is on). Usage charged before it was
     * paid from credits and never goes on a statement; null while prepaid.
     */
    invoiceBillingSince: timestamp('invoice_billing_since', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    // Caches in ingest and workers sync incrementally on this column.
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [
    index('accounts_updated_at_idx').on(table.updatedAt),
    check('accounts_name_not_blank', sql`length(trim(${table.name})) > 0`),
    check('accounts_credit_limit_nonnegative', sql`${table.creditLimitMicros} >= 0`),
    check(
      'accounts_invoice_terms',
      sql`(${table.billingMode} = 'invoice') = (${table.paymentTermsDays} is not null)`,
    ),
    check(
      'accounts_invoice_billing_since',
      sql`(${table.billingMode} = 'invoice') = (${table.invoiceBillingSince} is not null)`,
    ),
  ],
);

export type Account = typeof accounts.$inferSelect;
export type NewAccount = typeof accounts.$inferInsert;
