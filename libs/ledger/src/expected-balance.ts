import { changeTokenCreatedAt, usageLedgerKey } from './change-token';

/** A change reserve-change.lua applied in Redis and settle-change.lua has not settled yet. */
export interface PendingEntry {
  changeKey: string;
  appliedDelta: bigint;
  token: string;
  /** When an attempt last reached the change (epoch ms): its "|t" field, else its token's time; null if unknown. */
  lastTouchedAt: number | null;
}

/** One account's Redis side, read atomically by read-balance-state.lua. */
export interface RedisBalanceState {
  accountId: string;
  balance: bigint;
  gen: string;
  pending: PendingEntry[];
}

/** A ledger row Postgres committed for a pending change. */
export interface CommittedChange {
  accountId: string;
  ledgerKey: string;
  amountMicros: bigint;
  /** "" for rows written without one. */
  redisToken: string;
}

/** Ledger keys a pending change may be committed under: a usage batch's row is keyed by batch and account. */
export function ledgerKeysOf(accountId: string, changeKey: string): string[] {
  return [changeKey, usageLedgerKey(changeKey, accountId)];
}

/**
 * read-balance-state.lua's reply for one account; null when Redis holds no balance (the next use
 * loads it from Postgres) or an entry it cannot read (written by a newer version: left alone).
 */
export function parseBalanceState(accountId: string, reply: (string | null)[]): RedisBalanceState | null {
  const [balance, gen, ...fields] = reply;
  if (balance === null || balance === undefined) return null;
  const pending: PendingEntry[] = [];
  for (let i = 0; i + 2 < fields.length; i += 3) {
    const match = /^(-?\d+):(.+)$/.exec(fields[i + 1] ?? '');
    if (!match) return null;
    const touched = fields[i + 2] ? Number(fields[i + 2]) : null;
    const started = changeTokenCreatedAt(match[2]);
    pending.push({
      changeKey: fields[i]!,
      appliedDelta: BigInt(match[1]),
      token: match[2],
      lastTouchedAt: touched === null ? started : Math.max(touched, started ?? touched),
    });
  }
  return { accountId, balance: BigInt(balance), gen: gen ?? '', pending };
}

/** The row Postgres committed for an entry, if any (rows of other accounts never count). */
export function committedChangeOf(
  state: Pick<RedisBalanceState, 'accountId'>,
  entry: Pick<PendingEntry, 'changeKey'>,
  committed: ReadonlyMap<string, CommittedChange>,
): CommittedChange | undefined {
  return ledgerKeysOf(state.accountId, entry.changeKey)
    .map((key) => committed.get(key))
    .find((row) => row?.accountId === state.accountId);
}

/**
 * What the Redis balance should be, given the pending entries read with it and a Postgres
 * snapshot taken after that read: the Postgres balance plus, per entry, what it holds in Redis
 * beyond what Postgres has counted, i.e. what its settle (settle-change.lua) will take away.
 * - Not committed: the applied delta (a usage reservation; 0 for a credit, which gains its
 *   amount only at settle). Settle takes it back if the change never commits; a reservation no
 *   job can commit any more is counted here until the reconciler undoes it (dropDeadReservations).
 * - Committed under the entry's token: applied - committed (settle replaces one with the other).
 * - Committed under another token: the applied delta. The commit was counted in Redis another
 *   way (the settle of the attempt that made it, or a balance seeded from Postgres after it);
 *   this entry is a later attempt's, and settle undoes it.
 * So once every entry has settled, Redis equals Postgres plus the entries still uncommitted.
 *
 * Why comparing against this never makes a correct balance wrong. The Redis state (balance,
 * `gen`, entries) is read in one script (time t1), Postgres in one snapshot after it (t2), and
 * the repair is a compare-and-set on `gen` (t3, repair-balance.lua). On a correct balance:
 * - A commit of a pending entry under its token between t1 and t2 moves the Postgres balance by
 *   the committed amount and the entry's share by minus that amount: the expected balance is
 *   unchanged. One landing after t2 is not in the snapshot, and the entry counts as uncommitted:
 *   also unchanged. Every attempt that finds an entry reuses its token, so a commit under another
 *   token comes from an attempt whose own entry was lost: see the last case.
 * - A settle, a reserve (and its commit), a repair or a reseed between t1 and t3 moves `gen`
 *   (a reseed starts from a `gen` never reached before, lib/fresh-gen.lua): the repair is
 *   skipped, whatever was computed from the older read. Nothing else changes the balance or the
 *   entries (a side field such as "|t" changes neither).
 * - A commit of a change with no entry in the read cannot land between t1 and t2 unless its
 *   entry was lost (Redis lost data, a credit's orphaned entry dropped before its late commit):
 *   then the balance is not correct, and the snapshot is what it must be corrected to.
 * Drift found this way is exactly what Redis lost: the deduction of a batch whose entry vanished
 * with a Redis restart after a balance was seeded without it, which its settle (finding nothing)
 * never applies; or a credit committed after its entry was lost.
 */
export function expectedBalance(
  state: RedisBalanceState,
  postgresBalance: bigint,
  committed: ReadonlyMap<string, CommittedChange>,
): bigint {
  let expected = postgresBalance;
  for (const entry of state.pending) {
    const row = committedChangeOf(state, entry, committed);
    expected += entry.appliedDelta - (row?.redisToken === entry.token ? row.amountMicros : 0n);
  }
  return expected;
}
