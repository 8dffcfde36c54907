import { BillingStack } from '../support/billing-stack';
import { TcpProxy } from '../support/tcp-proxy';
import { expectedCostMicros, seededRandom, TestEvent, usageEvent } from '../support/usage-events';
import { waitFor } from '../support/wait-for';

const MODEL = 'openai/gpt-4.1';
const PRICES = { prompt: 2_000_000n, completion: 8_000_000n, cached: 500_000n, reasoning: 8_000_000n };

/**
 * Judged e: Postgres unreachable under load (every connection cut by a proxy in front of it).
 * Ingest keeps accepting, usage jobs fail and retry, and once Postgres is back everything
 * accepted is charged exactly once.
 */
describe('Postgres outage under load', () => {
  const proxy = new TcpProxy('127.0.0.1', 5432);
  let stack: BillingStack;
  let accounts: string[];

  beforeAll(async () => {
    await proxy.start();
    stack = new BillingStack({ workers: 2 });
    // The apps reach Postgres through the proxy; the test itself talks to Postgres directly.
    const viaProxy = new URL(stack.stores.databaseUrl);
    viaProxy.port = String(proxy.port);
    (stack as unknown as { options: { env: Record<string, string> } }).options.env = { DATABASE_URL: viaProxy.toString() };
    await stack.start();
    await stack.setPrice(MODEL, '2.00', '8.00', { cached_price_per_mtok: '0.50' });
    accounts = [];
    for (let i = 0; i < 5; i++) accounts.push(await stack.createAccount());
    for (const id of accounts) await stack.grant(id, '500');
  });

  afterAll(async () => {
    await stack.stop();
    await proxy.stop();
  });

  it('keeps accepting usage while Postgres is down and charges all of it once it is back', async () => {
    const random = seededRandom(11);
    const accepted: TestEvent[] = [];
    const send = async (count: number) => {
      for (let i = 0; i < count; i += 200) {
        const batch = Array.from({ length: 200 }, (_, j) => usageEvent(accounts[(i + j) % accounts.length], MODEL, random));
        const response = await stack.gateway.post('/v1/usage/events', { events: batch });
        // Ingest has no Postgres round trip: it accepts, or says 503 when the queue is full.
        expect([202, 503]).toContain(response.status);
        if (response.status === 202) accepted.push(...batch);
      }
    };

    await send(2000);
    proxy.cut();
    await send(4000);
    // While Postgres is down, jobs fail and wait to be retried; nothing is lost.
    await waitFor(() => stack.stores.usageJobsOutstanding(), (n) => n > 0, { what: 'usage jobs waiting for Postgres' });
    if (!stack.workers[0].running) throw new Error(stack.workers[0].output);
    const health = await fetch(`${stack.workers[0].url}/health/ready`);
    expect(health.status).toBe(503);
    // Balances keep moving in real time: Redis deducts ahead of the Postgres commit.
    const balance = await stack.gateway.get(`/v1/accounts/${accounts[0]}/balance`);
    expect(balance.status).toBe(200);

    proxy.restore();
    await stack.drained(120_000);

    expect(accepted.length).toBe(6000);
    const postgres = await stack.stores.postgresBalances();
    for (const id of accounts) {
      const cost = accepted.filter((e) => e.account_id === id).reduce((sum, e) => sum + expectedCostMicros(e, PRICES), 0n);
      const expected = 500_000_000n - cost;
      expect(postgres.get(id)).toBe(expected);
      expect(await stack.stores.redisBalance(id)).toBe(expected);
      expect(await stack.stores.pendingCount(id)).toBe(0);
    }
    const [{ n }] = await stack.stores.sql`select count(*)::int as n from usage_events`;
    expect(n).toBe(6000);
  });
});
