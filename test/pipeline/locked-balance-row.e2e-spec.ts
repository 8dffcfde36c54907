import postgres from 'postgres';
import { BillingStack } from '../support/billing-stack';
import { expectedCostMicros, seededRandom, usageEvent } from '../support/usage-events';
import { waitFor } from '../support/wait-for';

const MODEL = 'openai/gpt-4.1';
const PRICES = { prompt: 2_000_000n, completion: 8_000_000n, cached: 500_000n, reasoning: 8_000_000n };
const JOB_TIMEOUT_MS = 2_000;

/**
 * A session holds an account's balance rows locked (a stuck transaction, an operator's console):
 * the usage batch that debits the account waits, runs past USAGE_JOB_TIMEOUT_MS, and is retried.
 * Each attempt's wait ends with it (the transaction's statement timeout), so retries do not pile up
 * waiting sessions, pooled connections and events in the worker; once the lock goes, the batch is
 * charged exactly once.
 */
describe('usage batch waiting on a locked balance row', () => {
  const stack = new BillingStack({
    workers: 1,
    workerEnv: { USAGE_JOB_TIMEOUT_MS: String(JOB_TIMEOUT_MS) },
  });
  let locker: postgres.Sql;

  beforeAll(async () => {
    await stack.start();
    await stack.setPrice(MODEL, '2.00', '8.00', { cached_price_per_mtok: '0.50' });
    locker = postgres(stack.stores.databaseUrl, { max: 1, onnotice: () => undefined });
  });

  afterAll(async () => {
    await locker.end({ timeout: 5 });
    await stack.stop();
  });

  /** The worker's sessions of this suite's database waiting for a lock. */
  async function workerSessionsWaitingForLock(): Promise<number> {
    const [{ waiting }] = await stack.stores.sql<{ waiting: number }[]>`
      select count(*)::int as waiting from pg_stat_activity
      where datname = current_database() and wait_event_type = 'Lock' and application_name like '%usage-worker%'`;
    return waiting;
  }

  it('ends each timed-out attempt’s wait and charges the batch once when the lock is released', async () => {
    const accountId = await stack.createAccount();
    await stack.grant(accountId, '100');
    const random = seededRandom(7);
    const events = Array.from({ length: 50 }, () => usageEvent(accountId, MODEL, random));
    const cost = events.reduce((sum, event) => sum + expectedCostMicros(event, PRICES), 0n);

    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const locked = new Promise<void>((resolveLocked, rejectLocked) => {
      locker
        .begin(async (tx) => {
          await tx`select 1 from account_balances where account_id = ${accountId} for update`;
          resolveLocked();
          await released;
        })
        .catch(rejectLocked);
    });
    await locked;

    const worker = stack.workers[0];
    const outputBefore = worker.output.length;
    expect((await stack.gateway.post('/v1/usage/events', { events })).status).toBe(202);
    await waitFor(
      async () => worker.output.slice(outputBefore).split(`took more than ${JOB_TIMEOUT_MS} ms`).length - 1,
      (timeouts) => timeouts >= 3,
      { what: 'three attempts of the batch to time out', timeoutMs: 60_000 },
    );
    // Without the statement timeout every attempt would still be waiting here, one more per retry.
    expect(await workerSessionsWaitingForLock()).toBeLessThanOrEqual(1);

    release();
    await stack.drained();
    const expected = 100_000_000n - cost;
    expect((await stack.stores.postgresBalances()).get(accountId)).toBe(expected);
    expect((await stack.stores.ledgerSums()).get(accountId)).toBe(expected);
    await waitFor(
      () => stack.stores.redisBalance(accountId),
      (balance) => balance === expected,
      { what: 'Redis to settle to the committed balance' },
    );
    const [{ stored }] = await stack.stores.sql<{ stored: number }[]>`
      select count(*)::int as stored from usage_events where account_id = ${accountId}`;
    expect(stored).toBe(events.length);
  });
});
