import { integer, pgTable } from 'drizzle-orm/pg-core';

/**
 * The last invoice number issued per year (UTC). Incremented by an upsert inside the transaction
 * that issues the invoice: the row lock orders concurrent issuers and a rollback returns the
 * number, so numbers stay gapless.
 */
export const invoiceSequences = pgTable('invoice_sequences', {
  year: integer('year').primaryKey(),
  lastNumber: integer('last_number').notNull(),
});
