import { sql } from 'drizzle-orm';
import {
  bigint,
  check,
  customType,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uuid,
} from 'drizzle-orm/pg-core';

const xid8 = customType<{ data: string }>({ dataType: () => 'xid8' });

/**
 * One row per accepted event. The primary key (account_id, event_id) is what makes a
 * redelivered or retried event impossible to store, and so to charge, twice (I2).
 */
export const usageEvents = pgTable(
  'usage_events',
  {
    // No foreign keys on this, the hottest table: a per-row check would halve the insert rate.
    // account_id is checked at ingest and by the batch's ledger rows, which reference accounts;
    // price_version_id comes from the append-only price catalog.
    accountId: uuid('account_id').notNull(),
    eventId: text('event_id').notNull(),
    apiKeyId: text('api_key_id'),
    projectId: text('project_id'),
    modelId: text('model_id').notNull(),
    promptTokens: integer('prompt_tokens').notNull(),
    completionTokens: integer('completion_tokens').notNull(),
    cachedTokens: integer('cached_tokens').notNull(),
    reasoningTokens: integer('reasoning_tokens').notNull(),
    costMicros: bigint('cost_micros', { mode: 'bigint' }).notNull(),
    priceVersionId: bigint('price_version_id', { mode: 'number' }).notNull(),
    /** The usage batch (queue job) that charged this event; its ledger row is usage:<batch>:<account>. */
    batchId: text('batch_id').notNull(),
    metadata: jsonb('metadata'),
    occurredAt: timestamp('occurred_at', { withTimezone: true }).notNull(),
    receivedAt: timestamp('received_at', { withTimezone: true }).notNull(),
    persistedAt: timestamp('persisted_at', { withTimezone: true }).notNull().defaultNow(),
    /**
     * The transaction that inserted the row. A usage statement records the snapshot it rated in;
     * an event whose transaction that snapshot does not see (committed later) goes on the next
     * statement. Null for rows older than the column (migration 0005), all seen by any statement.
     */
    xactId: xid8('xact_id').default(sql`pg_current_xact_id()`),
  },
  (table) => [
    primaryKey({ name: 'usage_events_pkey', columns: [table.accountId, table.eventId] }),
    index('usage_events_account_occurred_idx').on(
      table.accountId,
      table.occurredAt.desc(),
      table.eventId.desc(),
    ),
    check('usage_events_cost_non_negative', sql`${table.costMicros} >= 0`),
  ],
);

export type UsageEvent = typeof usageEvents.$inferSelect;
