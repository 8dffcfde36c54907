import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RedisClient } from '@app/redis';
import { ChainableCommander, Result } from 'ioredis';

type ReserveReply = [
  status: 'missing' | 'created' | 'exists',
  token: string,
  before: string,
  after: string,
  /** Auto-reload crossing number if this call took the balance below the threshold while armed, else "". */
  crossing: string,
  /** What the change did for spending alerts (reserve-change.lua header), "" for nothing. */
  alertRecord: string,
];
type SettleReply = [settled: 0 | 1, balanceAfter: string];
type RetryReloadReply = [
  status: 'missing' | 'created' | 'exists' | 'none',
  token: string,
  balance: string,
  crossing: string,
];

declare module 'ioredis' {
  interface RedisCommander<Context> {
    reserveChange(
      balanceKey: string,
      pendingKey: string,
      changeKey: string,
      appliedDelta: string,
      token: string,
      seed: string,
      /** Auto-reload threshold in micros, "" for none. */
      threshold?: string,
      /** Auto-reload crossings so far, to seed with the balance ("" = 0). */
      reloadsSeed?: string,
      /** Low-balance line, re-arm level, oldest month kept, then 4 arguments per budget counter. */
      ...alertArgs: string[]
    ): Result<ReserveReply, Context>;
    settleChange(
      balanceKey: string,
      pendingKey: string,
      changeKey: string,
      committedToken: string,
      committedDelta: string,
    ): Result<SettleReply, Context>;
    /** settle-change.lua with API-key spend counters: numKeys = 2 + counters, then keys, then args. */
    settleChangeWithSpend(numKeys: number, ...keysAndArgs: string[]): Result<SettleReply, Context>;
    /** clear-settled.lua: pairs of change key and entry ("<applied>:<token>"); replies how many went. */
    clearSettled(
      balanceKey: string,
      pendingKey: string,
      ...changeKeysAndEntries: string[]
    ): Result<number, Context>;
    seedBalance(balanceKey: string, seed: string, reloadsSeed?: string): Result<string, Context>;
    /** retry-auto-reload.lua: a crossing without a deduction, after a failed reload's cause is fixed. */
    retryAutoReload(
      balanceKey: string,
      pendingKey: string,
      changeKey: string,
      token: string,
      threshold: string,
      failedCrossing: string,
      seed: string,
      reloadsSeed: string,
    ): Result<RetryReloadReply, Context>;
    /** repair-balance.lua: "repaired", "moved" or "missing". */
    repairBalance(balanceKey: string, gen: string, correction: string): Result<string, Context>;
    /** read-balance-state.lua: [balance, gen, then (change key, entry, touched) per pending change]. */
    readBalanceState(balanceKey: string, pendingKey: string): Result<(string | null)[], Context>;
  }
}

/** Each script's file, its number of keys, and the shared functions (lua/lib) it is loaded with. */
const SCRIPTS: Record<string, { file: string; keys: number | undefined; prelude?: string[] }> = {
  reserveChange: { file: 'reserve-change.lua', keys: 2, prelude: ['lib/less-than.lua', 'lib/fresh-gen.lua'] },
  settleChange: { file: 'settle-change.lua', keys: 2, prelude: ['lib/less-than.lua'] },
  settleChangeWithSpend: { file: 'settle-change.lua', keys: undefined, prelude: ['lib/less-than.lua'] },
  clearSettled: { file: 'clear-settled.lua', keys: 2 },
  seedBalance: { file: 'seed-balance.lua', keys: 1, prelude: ['lib/fresh-gen.lua'] },
  retryAutoReload: {
    file: 'retry-auto-reload.lua',
    keys: 2,
    prelude: ['lib/less-than.lua', 'lib/fresh-gen.lua'],
  },
  repairBalance: { file: 'repair-balance.lua', keys: 1 },
  readBalanceState: { file: 'read-balance-state.lua', keys: 2 },
};

/**
 * The auto-reload crossing a committed change made, from its token: reserve-change.lua appends
 * "#<crossing>" to the token of a change that moved the balance below the threshold, and that
 * token is what Postgres records with the change. Null when the change crossed nothing.
 */
export function crossingOfToken(token: string): number | null {
  const match = /#(\d+)$/.exec(token);
  return match ? Number(match[1]) : null;
}

const sources = new Map<string, string>();

function scriptSource(file: string): string {
  let source = sources.get(file);
  if (!source) {
    source = readFileSync(join(__dirname, 'lua', file), 'utf8');
    sources.set(file, source);
  }
  return source;
}

/** Registers the ledger's Lua scripts on a connection (EVALSHA with automatic fallback to EVAL). */
export function defineLedgerScripts<Client extends RedisClient>(redis: Client): Client {
  for (const [name, { file, keys, prelude = [] }] of Object.entries(SCRIPTS)) {
    const lua = [...prelude, file].map(scriptSource).join('\n');
    if (!(name in redis)) redis.defineCommand(name, { numberOfKeys: keys, lua });
  }
  return redis;
}

export type { ChainableCommander, ReserveReply, RetryReloadReply, SettleReply };
