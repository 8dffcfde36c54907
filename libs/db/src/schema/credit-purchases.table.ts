import { sql } from 'drizzle-orm';
import {
  bigint,
  boolean,
  check,
  index,
  integer,
  jsonb,
  pgEnum,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { accounts } from './accounts.table';
import type { InvoiceBillTo } from './invoices.table';

export const purchaseStatus = pgEnum('purchase_status', [
  'pending',
  'requires_action',
  'succeeded',
  'failed',
  'canceled',
]);
export const purchaseKind = pgEnum('purchase_kind', ['purchase', 'auto_reload']);

/**
 * A credit purchase (or auto-reload): written before Stripe is called, so every PaymentIntent
 * has a row to settle against, and its id is the Stripe idempotency key. Credits are granted
 * once, by the ledger row purchase:<id>, whoever sees the success first (API answer or webhook).
 */
export const creditPurchases = pgTable(
  'credit_purchases',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    accountId: uuid('account_id')
      .notNull()
      .references(() => accounts.id),
    kind: purchaseKind('kind').notNull(),
    /** What started it: purchase:<account>:<Idempotency-Key> or auto-reload:<account>:<crossing>. Unique. */
    requestKey: text('request_key').notNull(),
    /** Credits bought, in micros; always whole cents (Stripe charges cents). */
    amountMicros: bigint('amount_micros', { mode: 'bigint' }).notNull(),
    currency: text('currency').notNull().default('usd'),
    /**
     * Tax on top of the credits, computed once when the purchase is opened (libs/invoices); the
     * card is charged amount + tax, and the invoice copies these.
     */
    taxMicros: bigint('tax_micros', { mode: 'bigint' })
      .notNull()
      .default(sql`0`),
    taxRatePpm: integer('tax_rate_ppm').notNull().default(0),
    taxJurisdiction: text('tax_jurisdiction'),
    taxExempt: boolean('tax_exempt').notNull().default(false),
    /**
     * Bill-to, PO number and billing reference as they were when the tax was decided (F9): the
     * invoice, issued when the payment settles (maybe after 3-D Secure or a late webhook), copies
     * them. Null on rows opened before these were kept: the invoice reads the profile at issue.
     */
    billTo: jsonb('bill_to').$type<InvoiceBillTo>(),
    purchaseOrderNumber: text('purchase_order_number'),
    billingReference: text('billing_reference'),
    status: purchaseStatus('status').notNull().default('pending'),
    /** The purchase's only PaymentIntent: a retry confirms it again, never creates another. */
    paymentIntentId: text('payment_intent_id'),
    /**
     * Confirmations of that PaymentIntent after the first (a retried purchase whose attempt
     * failed): counted before each call, whose Stripe idempotency key is purchase-<id>-confirm-<n>.
     */
    confirmAttempts: integer('confirm_attempts').notNull().default(0),
    chargeId: text('charge_id'),
    /**
     * The card that paid (kept when the card is later removed): the one the purchase was opened
     * with until it succeeds, then the PaymentIntent's, which the card holder may have changed in
     * Stripe.js (after a failed 3-D Secure, say). card_brand and card_last4 follow it.
     */
    paymentMethodId: text('payment_method_id'),
    cardBrand: text('card_brand'),
    cardLast4: text('card_last4'),
    /**
     * The card the request chose (named, or the default then): what a replay of its
     * Idempotency-Key is compared with. Null on rows older than it (payment_method_id then).
     */
    requestedPaymentMethodId: text('requested_payment_method_id'),
    failureCode: text('failure_code'),
    declineCode: text('decline_code'),
    failureMessage: text('failure_message'),
    /** Micros refunded so far (debited from the balance by refund ledger rows). */
    refundedMicros: bigint('refunded_micros', { mode: 'bigint' })
      .notNull()
      .default(sql`0`),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
    succeededAt: timestamp('succeeded_at', { withTimezone: true }),
  },
  (table) => [
    uniqueIndex('credit_purchases_request_key').on(table.requestKey),
    uniqueIndex('credit_purchases_payment_intent_key').on(table.paymentIntentId),
    index('credit_purchases_account_idx').on(table.accountId, table.createdAt),
    check('credit_purchases_amount_positive', sql`${table.amountMicros} > 0`),
    check('credit_purchases_whole_cents', sql`${table.amountMicros} % 10000 = 0`),
    check(
      'credit_purchases_tax_whole_cents',
      sql`${table.taxMicros} >= 0 and ${table.taxMicros} % 10000 = 0`,
    ),
    check(
      'credit_purchases_refund_bounded',
      sql`${table.refundedMicros} between 0 and ${table.amountMicros}`,
    ),
  ],
);

export type CreditPurchase = typeof creditPurchases.$inferSelect;
