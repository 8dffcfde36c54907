import { BillingStack } from './billing-stack';

/**
 * What a request could leave behind in our stores, captured so a test can show that a refused
 * request left nothing (I6): rows in Postgres, keys and queue jobs in Redis, balances in both.
 */
export interface StoreSnapshot {
  accounts: number;
  usageEvents: number;
  ledgerEntries: number;
  /** Ledger rows that are not admin grants (usage, purchases, ...). */
  nonGrantLedgerEntries: number;
  modelPrices: number;
  /** Postgres balance per account, in micros as strings. */
  postgresBalances: Record<string, string>;
  /** Redis balance per account (null when not loaded), in micros as strings. */
  redisBalances: Record<string, string | null>;
  /** Keys `<prefix>:ev:{<group>}:<account>:<event id>` that ingest writes for accepted events. */
  acceptedMarkers: string[];
  /** Every key under the prefix outside BullMQ's own (balances of any account, markers, pending changes). */
  ownKeys: string[];
  /** Pending (unsettled) Redis balance changes over all accounts. */
  pendingChanges: number;
  usageJobsOutstanding: number;
  /** Id of the newest entry of the usage queue's event stream; jobs added later show after it. */
  queueStreamId: string;
}

function queueEventsKey(stack: BillingStack): string {
  return `${stack.stores.bullPrefix}:usage-events:events`;
}

export async function scanKeys(stack: BillingStack, pattern: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await stack.stores.redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    found.push(...keys);
    cursor = next;
  } while (cursor !== '0');
  return found.sort();
}

async function count(stack: BillingStack, table: string, where = 'true'): Promise<number> {
  const [{ n }] = await stack.stores.sql.unsafe<{ n: bigint }[]>(
    `select count(*)::bigint as n from ${table} where ${where}`,
  );
  return Number(n);
}

export async function takeSnapshot(stack: BillingStack): Promise<StoreSnapshot> {
  const { stores } = stack;
  const postgres = await stores.postgresBalances();
  const redisBalances: Record<string, string | null> = {};
  let pendingChanges = 0;
  for (const id of postgres.keys()) {
    const value = await stores.redisBalance(id);
    redisBalances[id] = value === null ? null : value.toString();
    pendingChanges += await stores.pendingCount(id);
  }
  const newest = (await stores.redis.xrevrange(queueEventsKey(stack), '+', '-', 'COUNT', 1)) as [
    string,
    string[],
  ][];
  return {
    accounts: await count(stack, 'accounts'),
    usageEvents: await count(stack, 'usage_events'),
    ledgerEntries: await count(stack, 'ledger_entries'),
    nonGrantLedgerEntries: await count(stack, 'ledger_entries', `kind <> 'grant'`),
    modelPrices: await count(stack, 'model_prices'),
    postgresBalances: Object.fromEntries([...postgres].map(([id, micros]) => [id, micros.toString()])),
    redisBalances,
    acceptedMarkers: await scanKeys(stack, `${stores.prefix}:ev:*`),
    ownKeys: (await scanKeys(stack, `${stores.prefix}:*`)).filter(
      (key) => !key.startsWith(`${stores.bullPrefix}:`),
    ),
    pendingChanges,
    usageJobsOutstanding: await stores.usageJobsOutstanding(),
    queueStreamId: newest[0]?.[0] ?? '0-0',
  };
}

/** Ids of usage jobs added to the queue after `streamId` (BullMQ records every added job in its event stream). */
export async function usageJobsAddedSince(stack: BillingStack, streamId: string): Promise<string[]> {
  const entries = (await stack.stores.redis.xrange(queueEventsKey(stack), `(${streamId}`, '+')) as [
    string,
    string[],
  ][];
  return entries
    .map(([, fields]) =>
      Object.fromEntries(
        fields.flatMap((value, index) => (index % 2 === 0 ? [[value, fields[index + 1]]] : [])),
      ),
    )
    .filter((fields) => fields.event === 'added')
    .map((fields) => fields.jobId as string);
}

/**
 * Asserts that the stores are exactly as in `before`: no event rows, ledger rows, accounts or
 * price versions added, no balance moved in Postgres or Redis, no marker keys, no queue job.
 */
export async function expectNothingReachedStores(stack: BillingStack, before: StoreSnapshot): Promise<void> {
  const after = await takeSnapshot(stack);
  expect(await usageJobsAddedSince(stack, before.queueStreamId)).toEqual([]);
  expect({ ...after, queueStreamId: undefined }).toEqual({ ...before, queueStreamId: undefined });
}

/**
 * Asserts that an account was charged exactly `costMicros` after a grant of `grantMicros`, to
 * the micro, everywhere it is kept: Postgres balance rows, ledger, spend rollup and Redis, with no
 * change still pending in Redis.
 */
export async function expectChargedExactly(
  stack: BillingStack,
  accountId: string,
  grantMicros: bigint,
  costMicros: bigint,
): Promise<void> {
  const expected = grantMicros - costMicros;
  expect((await stack.stores.postgresBalances()).get(accountId)).toBe(expected);
  expect((await stack.stores.ledgerSums()).get(accountId)).toBe(expected);
  expect((await stack.stores.rollupSpend()).get(accountId)).toBe(costMicros);
  expect(await stack.stores.redisBalance(accountId)).toBe(expected);
  expect(await stack.stores.pendingCount(accountId)).toBe(0);
}
