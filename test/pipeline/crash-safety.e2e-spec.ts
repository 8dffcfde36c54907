import { AppProcess } from '../support/app-process';
import { BillingStack } from '../support/billing-stack';
import { expectChargedExactly } from '../support/store-snapshot';
import { expectedCostMicros, seededRandom, TestEvent, usageEvent } from '../support/usage-events';

const MODEL = 'anthropic/claude-3.5-haiku';
const PRICES = { prompt: 800_000n, completion: 4_000_000n, cached: 800_000n, reasoning: 4_000_000n };
const GRANT = 50_000_000n;
const REQUESTS = 3;
const EVENTS_PER_REQUEST = 200;

/** A stack of its own with no worker running, MODEL priced, and three accounts granted $50 each. */
function fundedStack(): { stack: BillingStack; accounts: string[] } {
  const stack = new BillingStack({ workers: 0 });
  const accounts: string[] = [];
  beforeAll(async () => {
    await stack.start();
    await stack.setPrice(MODEL, '0.80', '4.00');
    for (let i = 0; i < 3; i++) accounts.push(await stack.createAccount());
    for (const id of accounts) await stack.grant(id, '50');
  });
  afterAll(() => stack.stop());
  return { stack, accounts };
}

const WORKER_ENV = { USAGE_LOCK_DURATION_MS: '2000', RECONCILE_INTERVAL_MS: '0' };

/** A worker without a failpoint takes over what the killed one left; resolves once the queue drained. */
async function survivorDrains(stack: BillingStack): Promise<AppProcess> {
  const survivor = new AppProcess('usage-worker', stack.stores.env(WORKER_ENV));
  stack.workers.push(survivor);
  await survivor.start();
  await stack.drained();
  return survivor;
}

/** Each account charged the costs of its events once, to the micro, in Postgres and Redis. */
async function expectEventsChargedOnce(stack: BillingStack, accounts: string[], events: TestEvent[]) {
  for (const id of accounts) {
    const cost = events
      .filter((e) => e.account_id === id)
      .reduce((sum, e) => sum + expectedCostMicros(e, PRICES), 0n);
    await expectChargedExactly(stack, id, GRANT, cost);
  }
}

/**
 * Judged b: a worker killed (SIGKILL, by an env-gated failpoint) between the Redis deduction and
 * the Postgres commit, or between the commit and the job's acknowledgement: right after the
 * commit, or once settled with its settles that only remove pending entries held (DeferredSettles)
 * and not yet made. After a restart the batch is charged exactly once and Redis equals Postgres.
 */
describe.each(['after-deduct', 'after-commit', 'after-settles-held'] as const)(
  'a usage worker killed %s',
  (failpoint) => {
    const { stack, accounts } = fundedStack();

    it('charges the batch exactly once after a restart, in Redis and Postgres', async () => {
      const doomed = new AppProcess('usage-worker', stack.stores.env(WORKER_ENV));
      await doomed.start({ FAILPOINT: failpoint });

      const random = seededRandom(7);
      const events = Array.from({ length: 300 }, (_, i) =>
        usageEvent(accounts[i % accounts.length], MODEL, random),
      );
      const response = await stack.gateway.post('/v1/usage/events', { events });
      expect(response.status).toBe(202);
      expect(await doomed.waitForExit()).toBeNull(); // killed by a signal, not a clean exit

      const committedByDoomed = failpoint !== 'after-deduct';
      const persistedBeforeRestart = await stack.stores.sql`select count(*)::int as n from usage_events`;
      expect(persistedBeforeRestart[0].n).toBe(committedByDoomed ? 300 : 0);
      // The kill landed between the two stores: Redis already deducted, its pending entries unsettled.
      const postgresBalances = await stack.stores.postgresBalances();
      for (const id of accounts) {
        expect(await stack.stores.redisBalance(id)).toBeLessThan(GRANT);
        expect(await stack.stores.pendingCount(id)).toBe(1);
        // Held entries are settled already in all but name: Redis equals Postgres.
        if (failpoint === 'after-settles-held')
          expect(await stack.stores.redisBalance(id)).toBe(postgresBalances.get(id));
      }

      const survivor = await survivorDrains(stack);
      await expectEventsChargedOnce(stack, accounts, events);
      const [{ n }] = await stack.stores.sql`select count(*)::int as n from usage_events`;
      expect(n).toBe(300);
      const usageRows = await stack.stores
        .sql`select count(*)::int as n from ledger_entries where kind = 'usage'`;
      expect(usageRows[0].n).toBe(accounts.length);
      // Ops see each event and debit once: the survivor counts only what its own attempt committed.
      const metrics = await (await fetch(`${survivor.url}/metrics`)).text();
      const charged = events.reduce((sum, e) => sum + expectedCostMicros(e, PRICES), 0n);
      expect(metrics).toContain(
        `billing_usage_events_persisted_total{app="usage-worker"} ${committedByDoomed ? 0 : 300}\n`,
      );
      expect(metrics).toContain(
        `billing_usage_charged_micros_total{app="usage-worker"} ${committedByDoomed ? 0n : charged}\n`,
      );
      // A replay that stores nothing observes no lag: it would be the batch's whole age.
      const observed = committedByDoomed ? 0 : 1;
      expect(metrics).toContain(
        `billing_usage_accepted_to_persisted_seconds_count{app="usage-worker"} ${observed}\n`,
      );
      expect(metrics).toContain(`billing_usage_batch_events_count{app="usage-worker"} ${observed}\n`);
    });
  },
);

/**
 * Judged b for batches charged together: a worker that merged three queued batches into one
 * group is killed (SIGKILL, env-gated failpoint) between the group's Redis deduction and its
 * Postgres commit, or between the commit and the jobs' acknowledgement. The batches come back
 * one by one; each must charge the whole group again under the group's id (its pending entries
 * and ledger rows are keyed by it), never in a group of its own. Killed once the group settled
 * and its records were deleted (after-group-settle), the batches come back without a group: each
 * is charged alone, finds its events stored, and its deduction is undone.
 */
describe.each(['after-deduct', 'after-commit', 'after-group-settle'] as const)(
  'a worker killed %s while charging a group',
  (failpoint) => {
    const { stack, accounts } = fundedStack();

    it('charges every event of the group exactly once after a restart, in Redis and Postgres', async () => {
      const doomed = new AppProcess(
        'usage-worker',
        stack.stores.env({
          ...WORKER_ENV,
          USAGE_BATCHES_PER_GROUP: String(REQUESTS),
          USAGE_GROUP_LINGER_MS: '1000',
        }),
      );
      await doomed.start({ FAILPOINT: failpoint });
      // Sent within the linger: the first batch waits until the other two join its group.
      const random = seededRandom(11);
      const events = Array.from({ length: REQUESTS * EVENTS_PER_REQUEST }, (_, i) =>
        usageEvent(accounts[i % accounts.length], MODEL, random),
      );
      for (let i = 0; i < REQUESTS; i++) {
        const batch = events.slice(i * EVENTS_PER_REQUEST, (i + 1) * EVENTS_PER_REQUEST);
        expect((await stack.gateway.post('/v1/usage/events', { events: batch })).status).toBe(202);
      }
      expect(await doomed.waitForExit()).toBeNull(); // killed by a signal, not a clean exit

      const committed = failpoint !== 'after-deduct';
      const settled = failpoint === 'after-group-settle';
      const stored = await stack.stores.sql<{ batch_id: string; n: number }[]>`
      select batch_id, count(*)::int as n from usage_events group by batch_id`;
      if (committed) {
        // One group id for all three batches, none of them the id of a queued job.
        expect(stored).toHaveLength(1);
        expect(stored[0].n).toBe(REQUESTS * EVENTS_PER_REQUEST);
        expect(
          await stack.stores.redis.exists(`${stack.stores.bullPrefix}:usage-events:${stored[0].batch_id}`),
        ).toBe(0);
      } else {
        expect(stored).toHaveLength(0);
      }
      if (settled) {
        // Charged and settled, but none of the three jobs acknowledged: all come back.
        await expectEventsChargedOnce(stack, accounts, events);
        expect(await stack.stores.redis.llen(`${stack.stores.bullPrefix}:usage-events:active`)).toBe(
          REQUESTS,
        );
        expect(await stack.stores.redis.keys(`${stack.stores.prefix}:ugroup:*`)).toEqual([]);
      } else {
        for (const id of accounts) {
          expect(await stack.stores.redisBalance(id)).toBeLessThan(GRANT);
          // One pending change per account for the three batches: they were deducted as one group.
          expect(await stack.stores.pendingCount(id)).toBe(1);
        }
      }

      const survivor = await survivorDrains(stack);
      await expectEventsChargedOnce(stack, accounts, events);
      const [{ n, batches }] = await stack.stores.sql<{ n: number; batches: number }[]>`
      select count(*)::int as n, count(distinct batch_id)::int as batches from usage_events`;
      expect(n).toBe(REQUESTS * EVENTS_PER_REQUEST);
      // The survivor charged the same group again, not each batch on its own.
      expect(batches).toBe(1);
      // Each event keeps the time its own request was accepted (what its occurred_at was checked against).
      const received = await stack.stores.sql<{ n: number }[]>`
        select count(*)::int as n from usage_events group by received_at`;
      expect(received.map((row) => row.n)).toEqual(Array(REQUESTS).fill(EVENTS_PER_REQUEST));
      const usageRows = await stack.stores.sql<{ n: number }[]>`
      select count(*)::int as n from ledger_entries where kind = 'usage'`;
      expect(usageRows[0].n).toBe(accounts.length);
      // The group's records are gone once it settled.
      expect(await stack.stores.redis.keys(`${stack.stores.prefix}:ugroup:*`)).toEqual([]);
      const metrics = await (await fetch(`${survivor.url}/metrics`)).text();
      expect(metrics).toContain(
        `billing_usage_events_persisted_total{app="usage-worker"} ${committed ? 0 : n}\n`,
      );
      // Lag and batch sizes come from the attempt that committed: the survivor's replays observe none.
      expect(metrics).toContain(
        `billing_usage_accepted_to_persisted_seconds_count{app="usage-worker"} ${committed ? 0 : REQUESTS}\n`,
      );
      expect(metrics).toContain(
        `billing_usage_group_batches_count{app="usage-worker"} ${committed ? 0 : 1}\n`,
      );
      // After the settle, the survivor did see every batch again, and found all its events stored.
      if (settled)
        expect(metrics).toContain(`billing_usage_events_already_stored_total{app="usage-worker"} ${n}\n`);
    });
  },
);
