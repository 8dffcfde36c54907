import { JobName, QUEUE_SETTINGS, QueueName } from '@app/queue';
import type { Queue } from 'bullmq';
import { randomUUID } from 'node:crypto';
import Stripe from 'stripe';
import { BillingStack } from '../support/billing-stack';
import { saveCard } from '../support/cards';
import { expectEveryBalanceAgrees, openStackQueue, usageAndReloadsSettled } from '../support/payments-queue';
import { spendUsd } from '../support/spend';
import { waitFor } from '../support/wait-for';
import { Workspace } from '../support/workspace';

/** Priced at 1,000 USD per million prompt tokens: $1 is TOKENS_PER_USD (1,000) tokens (spendUsd). */
const MODEL = 'test/auto-reload-new-month-model';

/**
 * F7, I2, I5: a crossing skipped for the monthly cap leaves the balance below the threshold, so
 * no deduction crosses again; once the UTC month is over, the auto-reload sweep reloads once.
 * The clock is not moved: the account's reloads are moved back into the previous month instead,
 * which is all the cap and the sweep look at. The sweep is run by adding its job, as its
 * schedule (off here) would.
 */
describe('auto-reload after a month whose cap was reached', () => {
  const stack = new BillingStack({
    workers: 2,
    stripe: true,
    workerEnv: { AUTO_RELOAD_SWEEP_INTERVAL_MS: '0' },
  });
  let stripe: Stripe;
  let payments: Queue;
  let maintenance: Queue;

  /** $10 of credits, a Visa, auto-reload at $5 -> +$20 with at most $40 a month. */
  async function cappedWorkspace(): Promise<Workspace> {
    const ws = await Workspace.create(stack);
    await stack.grant(ws.accountId, '10.00');
    await saveCard(stack, ws);
    const settings = await stack.admin.put(`${ws.path}/auto-reload`, {
      enabled: true,
      threshold: '5.00',
      amount: '20.00',
      monthly_cap: '40.00',
    });
    expect(settings.status).toBe(200);
    return ws;
  }

  async function spend(ws: Workspace, usd: number): Promise<void> {
    await spendUsd(stack, ws.accountId, MODEL, usd);
  }

  const settled = () => usageAndReloadsSettled(stack, payments);

  /** Two reloads, then a third crossing skipped for the cap: $4 left, below the threshold. */
  async function capReached(ws: Workspace): Promise<void> {
    await spend(ws, 6);
    await settled();
    await spend(ws, 20);
    await settled();
    await spend(ws, 20);
    await settled();
    expect(await reloadsOf(ws)).toEqual([
      [`auto-reload:${ws.accountId}:1`, 'succeeded', null],
      [`auto-reload:${ws.accountId}:2`, 'succeeded', null],
      [`auto-reload:${ws.accountId}:3`, 'canceled', 'monthly_cap_reached'],
    ]);
  }

  /** As if the month of the account's reloads so far ended an hour ago. */
  async function startNewMonth(ws: Workspace): Promise<void> {
    await stack.stores.sql`
      update credit_purchases
      set created_at = date_trunc('month', now(), 'UTC') - interval '1 hour',
          succeeded_at = case when succeeded_at is not null
                              then date_trunc('month', now(), 'UTC') - interval '1 hour' end
      where account_id = ${ws.accountId}`;
  }

  /** Runs `count` auto-reload sweeps at once and waits until each has completed. */
  async function sweep(count = 1): Promise<void> {
    const ids = Array.from({ length: count }, () => `test-sweep-${randomUUID()}`);
    await Promise.all(
      ids.map((jobId) =>
        maintenance.add(
          JobName.SweepAutoReloads,
          {},
          { ...QUEUE_SETTINGS[QueueName.Maintenance].jobOptions, attempts: 1, jobId },
        ),
      ),
    );
    // Completed sweeps are removed (removeOnComplete); a failed one is kept, and fails the test.
    const states = await waitFor(
      () => Promise.all(ids.map(async (jobId) => (await maintenance.getJob(jobId))?.getState() ?? 'done')),
      (all) => all.every((state) => state === 'done' || state === 'failed'),
      { what: 'the sweeps' },
    );
    expect(states).toEqual(ids.map(() => 'done'));
  }

  async function reloadsOf(ws: Workspace) {
    const rows = await stack.stores.sql<
      { request_key: string; status: string; failure_code: string | null }[]
    >`
      select request_key, status, failure_code from credit_purchases
      where account_id = ${ws.accountId} and kind = 'auto_reload' order by created_at, request_key`;
    return rows.map((row) => [row.request_key, row.status, row.failure_code]);
  }

  async function retryLedgerKeys(ws: Workspace): Promise<string[]> {
    const rows = await stack.stores.sql<{ idempotency_key: string }[]>`
      select idempotency_key from ledger_entries
      where account_id = ${ws.accountId} and idempotency_key like 'auto-reload-retry:%' order by id`;
    return rows.map((row) => row.idempotency_key);
  }

  async function succeededIntents(ws: Workspace): Promise<number> {
    const [{ stripe_customer_id: customer }] = await stack.stores.sql<{ stripe_customer_id: string }[]>`
      select stripe_customer_id from accounts where id = ${ws.accountId}`;
    const intents = await stripe.paymentIntents.list({ customer, limit: 100 });
    return intents.data.filter((intent) => intent.status === 'succeeded').length;
  }

  async function balanceOf(ws: Workspace): Promise<bigint> {
    return (await stack.stores.postgresBalances()).get(ws.accountId)!;
  }

  beforeAll(async () => {
    await stack.start();
    stripe = stack.stripeClient();
    payments = openStackQueue(stack, QueueName.Payments);
    maintenance = openStackQueue(stack, QueueName.Maintenance);
    await stack.setPrice(MODEL, '1000', '1000');
  });

  afterAll(async () => {
    await payments?.close();
    await maintenance?.close();
    await stack.stop();
  });

  // Redis = Postgres = the ledger, for every account, once everything has settled.
  afterEach(async () => {
    await settled();
    await expectEveryBalanceAgrees(stack);
  });

  it('does not reload again in the month whose cap was reached', async () => {
    const ws = await cappedWorkspace();
    await capReached(ws);

    await sweep();
    await settled();
    expect((await reloadsOf(ws)).length).toBe(3);
    expect(await retryLedgerKeys(ws)).toEqual([]);
    expect(await balanceOf(ws)).toBe(4_000_000n);
  });

  it('reloads once in the next UTC month, however many sweeps run at once and after', async () => {
    const ws = await cappedWorkspace();
    await capReached(ws);
    await startNewMonth(ws);

    await sweep(4);
    await settled();
    await sweep(2);
    await settled();

    expect((await reloadsOf(ws)).slice(3)).toEqual([[`auto-reload:${ws.accountId}:4`, 'succeeded', null]]);
    expect(await retryLedgerKeys(ws)).toEqual([`auto-reload-retry:${ws.accountId}:3`]);
    expect(await balanceOf(ws)).toBe(24_000_000n);
    expect(await succeededIntents(ws)).toBe(3);
  });

  it('adds the reload job again when it was lost after its crossing was committed', async () => {
    const ws = await cappedWorkspace();
    await capReached(ws);
    await startNewMonth(ws);

    // The crossing commits but its job never runs: as if the sweep died before adding it.
    const jobId = `auto-reload:${ws.accountId}:4`;
    await payments.pause();
    try {
      await sweep();
      expect(await retryLedgerKeys(ws)).toEqual([`auto-reload-retry:${ws.accountId}:3`]);
      await (await payments.getJob(jobId))!.remove();
    } finally {
      await payments.resume();
    }
    expect((await reloadsOf(ws)).length).toBe(3);

    await sweep();
    await settled();
    expect((await reloadsOf(ws)).slice(3)).toEqual([[jobId, 'succeeded', null]]);
    expect(await balanceOf(ws)).toBe(24_000_000n);
    expect(await succeededIntents(ws)).toBe(3);
  });

  it('does not reload in a new month while auto-reload is turned off', async () => {
    const ws = await cappedWorkspace();
    await capReached(ws);
    await startNewMonth(ws);
    const off = await stack.admin.put(`${ws.path}/auto-reload`, {
      enabled: false,
      threshold: '5.00',
      amount: '20.00',
      monthly_cap: '40.00',
    });
    expect(off.status).toBe(200);

    await sweep();
    await settled();
    expect((await reloadsOf(ws)).length).toBe(3);
    expect(await balanceOf(ws)).toBe(4_000_000n);
  });
});
