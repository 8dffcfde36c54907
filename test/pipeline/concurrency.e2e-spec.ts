import { balanceShardOf } from '@app/usage';
import { BillingStack } from '../support/billing-stack';
import { expectedCostMicros, seededRandom, TestEvent, usageEvent } from '../support/usage-events';

const MODEL = 'google/gemini-2.0-flash';
const PRICES = { prompt: 100_000n, completion: 400_000n, cached: 25_000n, reasoning: 400_000n };

/**
 * Judged c: several worker processes, each running several batches at once, all on the same
 * few accounts, with the same events arriving in different batches at the same moment.
 */
describe('several usage workers on the same accounts', () => {
  const stack = new BillingStack({ workers: 3, workerEnv: { USAGE_WORKER_CONCURRENCY: '4' } });
  let accounts: string[];

  beforeAll(async () => {
    await stack.start();
    await stack.setPrice(MODEL, '0.10', '0.40', { cached_price_per_mtok: '0.025' });
    accounts = [];
    for (let i = 0; i < 4; i++) accounts.push(await stack.createAccount());
    for (const id of accounts) await stack.grant(id, '100');
  });

  afterAll(() => stack.stop());

  it('runs every thread of each worker at USAGE_WORKER_NICE (default 10), ingest at its own', () => {
    // The gateways' answers come first where the apps share cores; batches can wait.
    const ingest = new Set(stack.ingest.threadNiceValues());
    expect(ingest.size).toBe(1);
    for (const worker of stack.workers) {
      const threads = worker.threadNiceValues();
      // V8's helper threads run before any JavaScript: they must have been lowered too.
      expect(threads.length).toBeGreaterThan(4);
      expect(new Set(threads)).toEqual(new Set([Math.max(10, ...ingest)]));
    }
  });

  it('ends with the exact totals in Redis and Postgres', async () => {
    const random = seededRandom(99);
    const events: TestEvent[] = Array.from({ length: 6000 }, (_, i) =>
      usageEvent(accounts[i % 4], MODEL, random),
    );
    // Every event is sent in two different batches, and the batches are sent concurrently:
    // the copies race through different workers and Postgres transactions.
    const batches: TestEvent[][] = [];
    for (let i = 0; i < events.length; i += 200) {
      batches.push(events.slice(i, i + 200));
      batches.push([...events.slice(i + 100, i + 200), ...events.slice(i, i + 100)].reverse());
    }
    const responses = await Promise.all(
      batches.map((batch) =>
        stack.gateway.post('/v1/usage/events', { events: batch }, { 'x-test': 'concurrent' }),
      ),
    );
    for (const response of responses) expect(response.status).toBe(202);
    await stack.drained();

    const postgres = await stack.stores.postgresBalances();
    const ledger = await stack.stores.ledgerSums();
    const rollup = await stack.stores.rollupSpend();
    for (const id of accounts) {
      const cost = events
        .filter((e) => e.account_id === id)
        .reduce((sum, e) => sum + expectedCostMicros(e, PRICES), 0n);
      const expected = 100_000_000n - cost;
      expect(postgres.get(id)).toBe(expected);
      expect(ledger.get(id)).toBe(expected);
      // Concurrent transactions adding to the same rollup rows lose nothing either.
      expect(rollup.get(id)).toBe(cost);
      expect(await stack.stores.redisBalance(id)).toBe(expected);
      expect(await stack.stores.pendingCount(id)).toBe(0);
    }
    const [{ n }] = await stack.stores.sql`select count(*)::int as n from usage_events`;
    expect(n).toBe(events.length);

    // Each batch added to the rollup rows of its balance shard (so batches wait on each other's
    // rollup rows only when they share balance rows): per account and shard, rollup = ledger.
    const byShard = (rows: { account_id: string; shard: number; spend: bigint }[]) =>
      Object.fromEntries(rows.map((row) => [`${row.account_id}/${row.shard}`, row.spend]));
    const ledgerRows = await stack.stores.sql<{ account_id: string; batch_id: string; spend: bigint }[]>`
      select account_id, source->>'batch_id' as batch_id, -amount_micros as spend
      from ledger_entries where kind = 'usage'`;
    const fromLedger = new Map<string, { account_id: string; shard: number; spend: bigint }>();
    for (const row of ledgerRows) {
      const shard = balanceShardOf(row.batch_id);
      const entry = fromLedger.get(`${row.account_id}/${shard}`) ?? {
        account_id: row.account_id,
        shard,
        spend: 0n,
      };
      entry.spend += row.spend;
      fromLedger.set(`${row.account_id}/${shard}`, entry);
    }
    const rollupRows = await stack.stores.sql<{ account_id: string; shard: number; spend: bigint }[]>`
      select account_id, shard, sum(spend_micros)::bigint as spend from usage_spend_hourly group by 1, 2`;
    expect(fromLedger.size).toBeGreaterThan(accounts.length);
    expect(byShard(rollupRows)).toEqual(byShard([...fromLedger.values()]));
  });
});
