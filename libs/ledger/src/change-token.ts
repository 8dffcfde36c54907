import { v7 as uuidv7 } from 'uuid';

/**
 * A new token for a pending change (reserve-change.lua keeps it with the entry, Postgres with the
 * committed row). Time-ordered (UUIDv7), so an entry says when the attempt that made it started:
 * the reconciler settles entries whose settle never ran (changeTokenCreatedAt).
 */
export function newChangeToken(): string {
  return uuidv7();
}

/** When the attempt holding `token` started (epoch ms); null for tokens without a time (UUIDv4, before 2026-12-03). */
export function changeTokenCreatedAt(token: string): number | null {
  // xxxxxxxx-xxxx-7xxx-...: the first 48 bits are the milliseconds; a "#<crossing>" suffix may follow.
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-/i.test(token)) return null;
  return parseInt(token.slice(0, 8) + token.slice(9, 13), 16);
}

/**
 * The ledger idempotency key of a usage batch's debit for one account: a batch writes one row per
 * account it charged, and a pending usage change in Redis is keyed by the batch id alone.
 */
export function usageLedgerKey(batchId: string, accountId: string): string {
  return `usage:${batchId}:${accountId}`;
}
