import { BillingStack } from '../support/billing-stack';
import { OwnRedisServer } from '../support/redis-server';
import { expectedCostMicros, seededRandom, TestEvent, usageEvent } from '../support/usage-events';
import { waitFor } from '../support/wait-for';

const MODEL = 'mistral/mistral-small';
const PRICES = { prompt: 200_000n, completion: 600_000n, cached: 200_000n, reasoning: 600_000n };

/**
 * Judged d: Redis restarted empty in the middle of a run (no persistence). Events still queued
 * in Redis are lost with it (README: Durability); everything that reached Postgres is charged
 * exactly once, and Redis balances are rebuilt from Postgres and end equal to it.
 */
describe('Redis lost mid-run', () => {
  const redisServer = new OwnRedisServer();
  let stack: BillingStack;
  let accounts: string[];

  beforeAll(async () => {
    await redisServer.start();
    stack = new BillingStack({ workers: 2, redisUrl: redisServer.url });
    await stack.start();
    await stack.setPrice(MODEL, '0.20', '0.60');
    accounts = [];
    for (let i = 0; i < 10; i++) accounts.push(await stack.createAccount());
    for (const id of accounts) await stack.grant(id, '20');
  });

  afterAll(async () => {
    await stack.stop();
    await redisServer.kill();
  });

  it('rebuilds every balance from Postgres and ends exact', async () => {
    const random = seededRandom(5);
    const send = async (count: number, to = accounts) => {
      const events: TestEvent[] = Array.from({ length: count }, (_, i) =>
        usageEvent(to[i % to.length], MODEL, random),
      );
      for (let i = 0; i < events.length; i += 250) {
        const response = await stack.gateway.post('/v1/usage/events', { events: events.slice(i, i + 250) });
        expect(response.status).toBe(202);
      }
    };
    await send(3000);
    await stack.drained();

    // Hold the victim's balance row so a batch stops between its Redis deduction and its commit.
    const victim = accounts[0];
    const before = await stack.stores.redisBalance(victim);
    const blocker = await stack.stores.sql.reserve();
    await blocker`begin`;
    await blocker`select 1 from account_balances where account_id = ${victim} for update`;
    await send(100, [victim]);
    await waitFor(
      () => stack.stores.redisBalance(victim),
      (balance) => balance !== null && balance < before!,
      {
        what: 'the batch to be deducted in Redis',
      },
    );

    await redisServer.kill();
    await redisServer.start();
    // A read after the restart loads the balance from Postgres, which does not show the held batch yet.
    await waitFor(
      async () => (await stack.gateway.get(`/v1/accounts/${victim}/balance`)).status,
      (status) => status === 200,
      { what: 'ingest to reach the new Redis' },
    );
    await blocker`commit`;
    blocker.release();
    await waitFor(
      () => stack.stores.sql`select count(*)::int as n from usage_events where account_id = ${victim}`,
      (rows) => rows[0].n === 300 + 100,
      { what: 'the held batch to commit' },
    );

    // The pipeline goes on after the restart: new usage is accepted and charged.
    await send(2000);
    await stack.drained();

    const report = await stack.admin.post('/v1/admin/reconcile');
    expect(report.status).toBe(200);
    expect(report.body).toMatchObject({ busy: 0, drifted: 1, repaired: 1 });

    const persisted = await stack.stores.sql<{ account_id: string; cost: bigint }[]>`
      select account_id, sum(cost_micros)::bigint as cost from usage_events group by account_id`;
    const costs = new Map(persisted.map((row) => [row.account_id, row.cost]));
    const postgres = await stack.stores.postgresBalances();
    const ledger = await stack.stores.ledgerSums();
    for (const id of accounts) {
      const expected = 20_000_000n - (costs.get(id) ?? 0n);
      expect(postgres.get(id)).toBe(expected);
      expect(ledger.get(id)).toBe(expected);
      expect(await stack.stores.redisBalance(id)).toBe(expected);
    }
    const [{ n }] = await stack.stores.sql`select count(*)::int as n from usage_events`;
    expect(n).toBe(3000 + 100 + 2000);
    // Costs follow the price list: nothing was charged at a wrong or zero price.
    const rows = await stack.stores.sql<(TestEvent & { cost_micros: bigint })[]>`
      select account_id, event_id as id, prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, cost_micros
      from usage_events order by random() limit 100`;
    for (const row of rows) expect(row.cost_micros).toBe(expectedCostMicros(row, PRICES));
  });
});
