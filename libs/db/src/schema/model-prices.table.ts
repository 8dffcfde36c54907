import { sql } from 'drizzle-orm';
import { bigint, bigserial, check, integer, pgTable, text, timestamp, unique } from 'drizzle-orm/pg-core';

/**
 * Versioned price catalog: a row per (model, version), never updated. The version in effect at
 * an event's occurred_at is the one with the latest effective_from not after it. Prices are
 * integer micros per million tokens; a free model has every price at 0.
 */
export const modelPrices = pgTable(
  'model_prices',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    modelId: text('model_id').notNull(),
    version: integer('version').notNull(),
    promptMicrosPerMtok: bigint('prompt_micros_per_mtok', { mode: 'bigint' }).notNull(),
    completionMicrosPerMtok: bigint('completion_micros_per_mtok', { mode: 'bigint' }).notNull(),
    cachedMicrosPerMtok: bigint('cached_micros_per_mtok', { mode: 'bigint' }).notNull(),
    reasoningMicrosPerMtok: bigint('reasoning_micros_per_mtok', { mode: 'bigint' }).notNull(),
    effectiveFrom: timestamp('effective_from', { withTimezone: true }).notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [
    unique('model_prices_model_version_key').on(table.modelId, table.version),
    check(
      'model_prices_non_negative',
      sql`${table.promptMicrosPerMtok} >= 0 and ${table.completionMicrosPerMtok} >= 0 and ${table.cachedMicrosPerMtok} >= 0 and ${table.reasoningMicrosPerMtok} >= 0`,
    ),
  ],
);

export type ModelPrice = typeof modelPrices.$inferSelect;
export type NewModelPrice = typeof modelPrices.$inferInsert;
