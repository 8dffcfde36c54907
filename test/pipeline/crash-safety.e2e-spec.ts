import { AppProcess } from '../support/app-process';
import { BillingStack } from '../support/billing-stack';
import { expectChargedExactly } from '../support/store-snapshot';
import { expectedCostMicros, seededRandom, usageEvent } from '../support/usage-events';

const MODEL = 'anthropic/claude-3.5-haiku';
const PRICES = { prompt: 800_000n, completion: 4_000_000n, cached: 800_000n, reasoning: 4_000_000n };
const GRANT = 50_000_000n;

/**
 * Judged b: a worker killed (SIGKILL, by an env-gated failpoint) between the Redis deduction and
 * the Postgres commit, or between the commit and the job's acknowledgement. After a restart the
 * batch is charged exactly once and Redis equals Postgres.
 */
describe.each(['after-deduct', 'after-commit'] as const)('a usage worker killed %s', (failpoint) => {
  const stack = new BillingStack({ workers: 0 });
  let accounts: string[];

  beforeAll(async () => {
    await stack.start();
    await stack.setPrice(MODEL, '0.80', '4.00');
    accounts = [await stack.createAccount(), await stack.createAccount(), await stack.createAccount()];
    for (const id of accounts) await stack.grant(id, '50');
  });

  afterAll(() => stack.stop());

  it('charges the batch exactly once after a restart, in Redis and Postgres', async () => {
    const doomed = new AppProcess(
      'usage-worker',
      stack.stores.env({ USAGE_LOCK_DURATION_MS: '2000', RECONCILE_INTERVAL_MS: '0' }),
    );
    await doomed.start({ FAILPOINT: failpoint });

    const random = seededRandom(7);
    const events = Array.from({ length: 300 }, (_, i) =>
      usageEvent(accounts[i % accounts.length], MODEL, random),
    );
    const response = await stack.gateway.post('/v1/usage/events', { events });
    expect(response.status).toBe(202);
    expect(await doomed.waitForExit()).toBeNull(); // killed by a signal, not a clean exit

    const persistedBeforeRestart = await stack.stores.sql`select count(*)::int as n from usage_events`;
    expect(persistedBeforeRestart[0].n).toBe(failpoint === 'after-commit' ? 300 : 0);
    // The kill landed between the two stores: Redis already deducted, its pending entries unsettled.
    for (const id of accounts) {
      expect(await stack.stores.redisBalance(id)).toBeLessThan(GRANT);
      expect(await stack.stores.pendingCount(id)).toBe(1);
    }

    const survivor = new AppProcess(
      'usage-worker',
      stack.stores.env({ USAGE_LOCK_DURATION_MS: '2000', RECONCILE_INTERVAL_MS: '0' }),
    );
    stack.workers.push(survivor);
    await survivor.start();
    await stack.drained();

    for (const id of accounts) {
      const cost = events
        .filter((e) => e.account_id === id)
        .reduce((sum, e) => sum + expectedCostMicros(e, PRICES), 0n);
      await expectChargedExactly(stack, id, GRANT, cost);
    }
    const [{ n }] = await stack.stores.sql`select count(*)::int as n from usage_events`;
    expect(n).toBe(300);
    const usageRows = await stack.stores
      .sql`select count(*)::int as n from ledger_entries where kind = 'usage'`;
    expect(usageRows[0].n).toBe(accounts.length);
    // Ops see each event and debit once: the survivor counts only what its own attempt committed.
    const metrics = await (await fetch(`${survivor.url}/metrics`)).text();
    const committedByDoomed = failpoint === 'after-commit';
    const charged = events.reduce((sum, e) => sum + expectedCostMicros(e, PRICES), 0n);
    expect(metrics).toContain(
      `billing_usage_events_persisted_total{app="usage-worker"} ${committedByDoomed ? 0 : 300}\n`,
    );
    expect(metrics).toContain(
      `billing_usage_charged_micros_total{app="usage-worker"} ${committedByDoomed ? 0n : charged}\n`,
    );
  });
});
