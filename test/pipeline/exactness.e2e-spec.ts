import { BillingStack } from '../support/billing-stack';
import { expectedCostMicros, seededRandom, TestEvent, usageEvent } from '../support/usage-events';

const MODEL = 'openai/gpt-4o-mini';
const PRICES = { prompt: 150_000n, completion: 600_000n, cached: 75_000n, reasoning: 2_500_000n };
const GRANT_MICROS = 1_000_000_000n; // $1,000 each

describe('usage pipeline exactness (judged a)', () => {
  const stack = new BillingStack({ workers: 2 });
  const accounts: string[] = [];

  beforeAll(async () => {
    await stack.start();
    await stack.setPrice(MODEL, '0.15', '0.60', {
      cached_price_per_mtok: '0.075',
      reasoning_price_per_mtok: '2.50',
    });
    for (let i = 0; i < 50; i++) accounts.push(await stack.createAccount());
    await Promise.all(accounts.map((id) => stack.grant(id, '1000')));
  });

  afterAll(() => stack.stop());

  it('charges 10,000 events with repeated ids exactly once each, in Redis and Postgres alike', async () => {
    const random = seededRandom(42);
    const distinct = new Map<string, TestEvent>();
    const batches: TestEvent[][] = [];
    let sent = 0;
    while (sent < 10_000) {
      const batch: TestEvent[] = [];
      const size = 100 + Math.floor(random() * 400);
      for (let i = 0; i < size && sent < 10_000; i++, sent++) {
        const pool = [...distinct.values()];
        const roll = random();
        if (roll < 0.03 && batch.length > 0)
          batch.push(batch[Math.floor(random() * batch.length)]); // repeated inside a batch
        else if (roll < 0.06 && pool.length > 0)
          batch.push(pool[Math.floor(random() * pool.length)]); // repeated across batches
        else {
          const event = usageEvent(accounts[Math.floor(random() * accounts.length)], MODEL, random);
          distinct.set(`${event.account_id}/${event.id}`, event);
          batch.push(event);
        }
      }
      batches.push(batch);
    }

    // Four requests at a time, and every fifth request sent twice, as a gateway retrying after a timeout does.
    for (let i = 0; i < batches.length; i += 4) {
      const group = batches.slice(i, i + 4);
      const sends = group.flatMap((batch, j) => ((i + j) % 5 === 0 ? [batch, batch] : [batch]));
      const responses = await Promise.all(
        sends.map((batch) => stack.gateway.post('/v1/usage/events', { events: batch })),
      );
      for (const response of responses) expect(response.status).toBe(202);
    }
    await stack.drained();

    const expected = new Map(accounts.map((id) => [id, GRANT_MICROS]));
    for (const event of distinct.values()) {
      expected.set(event.account_id, expected.get(event.account_id)! - expectedCostMicros(event, PRICES));
    }
    const postgres = await stack.stores.postgresBalances();
    const ledger = await stack.stores.ledgerSums();
    for (const id of accounts) {
      expect({ id, postgres: postgres.get(id) }).toEqual({ id, postgres: expected.get(id) });
      expect({ id, ledger: ledger.get(id) }).toEqual({ id, ledger: expected.get(id) });
      expect({ id, redis: await stack.stores.redisBalance(id) }).toEqual({ id, redis: expected.get(id) });
      expect(await stack.stores.pendingCount(id)).toBe(0);
    }
    const [{ count }] = await stack.stores.sql<
      { count: bigint }[]
    >`select count(*)::bigint as count from usage_events`;
    expect(Number(count)).toBe(distinct.size);
  });
});
