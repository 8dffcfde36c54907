import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  index,
  jsonb,
  pgEnum,
  pgTable,
  text,
  timestamp,
  unique,
  uuid,
} from 'drizzle-orm/pg-core';
import { accounts } from './accounts.table';

export const ledgerEntryKind = pgEnum('ledger_entry_kind', [
  'usage',
  'purchase',
  'auto_reload',
  'grant',
  'refund',
  'adjustment',
  'invoice_payment',
]);

/**
 * Every balance change, append-only. The idempotency key names the cause (usage:<batch>:<account>,
 * grant:<account>:<request key>, ...) and is unique, so replaying a cause changes nothing (I4).
 */
export const ledgerEntries = pgTable(
  'ledger_entries',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    accountId: uuid('account_id')
      .notNull()
      .references(() => accounts.id),
    kind: ledgerEntryKind('kind').notNull(),
    /** Signed micros: negative for usage and refunds, positive for purchases, grants and reversals of failed refunds. */
    amountMicros: bigint('amount_micros', { mode: 'bigint' }).notNull(),
    idempotencyKey: text('idempotency_key').notNull(),
    /** Balance right after this entry, for entries whose callers replay the response (grants). */
    balanceAfterMicros: bigint('balance_after_micros', { mode: 'bigint' }),
    /**
     * Which Redis pending change this entry settles (libs/ledger/src/lua). Lets a redelivered
     * batch tell its own pending deduction from one a previous attempt already settled.
     */
    redisToken: text('redis_token'),
    source: jsonb('source').$type<Record<string, unknown>>().notNull().default({}),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [
    unique('ledger_entries_idempotency_key_key').on(table.idempotencyKey),
    index('ledger_entries_account_created_idx').on(table.accountId, table.createdAt),
    // The few rows that name an auto-reload crossing ("<token>#<n>"): rebuilding a balance Redis
    // lost reads its last crossing number from these (BalanceRepository.seedsOf) instead of
    // every usage row of the account, which grows by one per batch the account is in.
    index('ledger_entries_reload_crossings_idx')
      .on(table.accountId)
      .where(sql`${table.redisToken} like '%#%'`),
  ],
);

export type LedgerEntry = typeof ledgerEntries.$inferSelect;
export type LedgerEntryKind = (typeof ledgerEntryKind.enumValues)[number];
