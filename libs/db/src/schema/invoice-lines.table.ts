import { bigint, bigserial, integer, pgTable, text, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { invoices } from './invoices.table';

/** An invoice's line items, in print order. */
export const invoiceLines = pgTable(
  'invoice_lines',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    invoiceId: uuid('invoice_id')
      .notNull()
      .references(() => invoices.id),
    position: integer('position').notNull(),
    description: text('description').notNull(),
    /** Usage statements: the model the line rates. */
    model: text('model'),
    /** Tokens for usage lines, 1 for credit purchases. */
    quantity: bigint('quantity', { mode: 'bigint' }).notNull(),
    amountMicros: bigint('amount_micros', { mode: 'bigint' }).notNull(),
  },
  (table) => [uniqueIndex('invoice_lines_position_key').on(table.invoiceId, table.position)],
);

export type InvoiceLine = typeof invoiceLines.$inferSelect;
