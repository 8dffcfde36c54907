import { CommittedUsage } from './usage-batch.repository';

/** A budget counter a usage change added its spend to (named in the change's alert record). */
export interface BudgetCounterRef {
  /** Field of the account's balance hash (reserve-change.lua). */
  field: string;
  scope: 'account' | 'api_key' | 'project';
  /** The key or project; null for the account's own budget. */
  scopeId: string | null;
}

/**
 * What Postgres committed for one counter: the account's whole debit, or one API key's or
 * project's share of it. Reserve added the spend of every event of the batch; this leaves out
 * the events Postgres dropped as already stored, so settling with it keeps counters exact.
 */
export function committedCounterSpend(usage: CommittedUsage, counter: BudgetCounterRef): bigint {
  if (counter.scope === 'account') return -usage.amountMicros;
  let micros = 0n;
  if (counter.scope === 'api_key') {
    for (const [keyId, , amount] of usage.keySpend) if (keyId === counter.scopeId) micros += BigInt(amount);
  } else {
    for (const [projectId, amount] of usage.projectSpend)
      if (projectId === counter.scopeId) micros += BigInt(amount);
  }
  return micros;
}
