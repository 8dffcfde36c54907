import { pgTable, text, timestamp } from 'drizzle-orm/pg-core';

/** Stripe webhook events already handled: inserted in the same transaction as their effect (I5). */
export const stripeEvents = pgTable('stripe_events', {
  /** evt_... */
  id: text('id').primaryKey(),
  type: text('type').notNull(),
  /** What handling it did, for ops (e.g. "credited purchase …", "ignored: stale"). */
  outcome: text('outcome').notNull(),
  handledAt: timestamp('handled_at', { withTimezone: true }).notNull().defaultNow(),
});
