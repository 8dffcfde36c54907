import postgres from 'postgres';
import { BillingStack } from '../support/billing-stack';
import { PG_ADMIN_URL } from '../support/test-stores';
import { expectedCostMicros, seededRandom, TestEvent, usageEvent } from '../support/usage-events';
import { waitFor } from '../support/wait-for';

const MODEL = 'openai/gpt-4.1';
const PRICES = { prompt: 2_000_000n, completion: 8_000_000n, cached: 500_000n, reasoning: 8_000_000n };

/**
 * Judged e: the suite's database goes away under load (every session terminated, new ones
 * refused, as in a Postgres restart), without touching other suites' databases. Ingest keeps
 * accepting, usage jobs fail and retry, and once Postgres is back everything accepted is
 * charged exactly once.
 */
describe('Postgres outage under load', () => {
  const stack = new BillingStack({ workers: 2 });
  let accounts: string[];
  let outage: ReturnType<typeof databaseOutage>;

  beforeAll(async () => {
    await stack.start();
    outage = databaseOutage(stack.stores.name);
    await stack.setPrice(MODEL, '2.00', '8.00', { cached_price_per_mtok: '0.50' });
    accounts = [];
    for (let i = 0; i < 5; i++) accounts.push(await stack.createAccount());
    for (const id of accounts) await stack.grant(id, '500');
  });

  afterAll(async () => {
    await outage.end();
    await outage.close();
    await stack.stop();
  });

  it('keeps accepting usage while Postgres is down and charges all of it once it is back', async () => {
    const random = seededRandom(11);
    const accepted: TestEvent[] = [];
    const send = async (count: number) => {
      for (let i = 0; i < count; i += 200) {
        const batch = Array.from({ length: 200 }, (_, j) =>
          usageEvent(accounts[(i + j) % accounts.length], MODEL, random),
        );
        const response = await stack.gateway.post('/v1/usage/events', { events: batch });
        // Ingest has no Postgres round trip: it accepts, or says 503 when the queue is full.
        expect([202, 503]).toContain(response.status);
        if (response.status === 202) accepted.push(...batch);
      }
    };

    await send(2000);
    await outage.begin();
    await send(4000);
    // While Postgres is down, jobs fail and wait to be retried; nothing is lost.
    await waitFor(
      () => stack.stores.usageJobsOutstanding(),
      (n) => n > 0,
      { what: 'usage jobs waiting for Postgres' },
    );
    if (!stack.workers[0].running) throw new Error(stack.workers[0].output);
    const health = await fetch(`${stack.workers[0].url}/health/ready`);
    expect(health.status).toBe(503);
    // Balances keep moving in real time: Redis deducts ahead of the Postgres commit.
    const balance = await stack.gateway.get(`/v1/accounts/${accounts[0]}/balance`);
    expect(balance.status).toBe(200);

    await outage.end();
    await stack.drained(120_000);

    expect(accepted.length).toBe(6000);
    const postgres = await waitFor(() => stack.stores.postgresBalances(), Boolean, {
      what: 'the test connection',
    });
    for (const id of accounts) {
      const cost = accepted
        .filter((e) => e.account_id === id)
        .reduce((sum, e) => sum + expectedCostMicros(e, PRICES), 0n);
      const expected = 500_000_000n - cost;
      expect(postgres.get(id)).toBe(expected);
      expect(await stack.stores.redisBalance(id)).toBe(expected);
      expect(await stack.stores.pendingCount(id)).toBe(0);
    }
    const [{ n }] = await stack.stores.sql`select count(*)::int as n from usage_events`;
    expect(n).toBe(6000);
  });
});

/** Makes one database refuse sessions and ends the open ones; `end` lets sessions in again. */
function databaseOutage(database: string) {
  const admin = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => undefined });
  return {
    async begin() {
      await admin.unsafe(`alter database "${database}" allow_connections false`);
      await admin`select pg_terminate_backend(pid) from pg_stat_activity where datname = ${database} and pid <> pg_backend_pid()`;
    },
    async end() {
      await admin.unsafe(`alter database "${database}" allow_connections true`);
    },
    close: () => admin.end({ timeout: 5 }),
  };
}
