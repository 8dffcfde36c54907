import { apiEnvSchema, loadConfig } from '@app/config';
import { RetryAutoReloadService } from '@app/payments';
import { autoReloadJobId, JobName, QueueName } from '@app/queue';
import { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { Queue } from 'bullmq';
import Stripe from 'stripe';
import { ApiModule } from '../../apps/api/src/api.module';
import { AppProcess } from '../support/app-process';
import { BillingStack } from '../support/billing-stack';
import { SavedCard, twoCardWorkspace } from '../support/cards';
import { openStackQueue, usageAndReloadsSettled } from '../support/payments-queue';
import { spendUsd } from '../support/spend';
import { StripeProxy } from '../support/stripe-proxy';
import { waitFor } from '../support/wait-for';
import { Workspace } from '../support/workspace';

/** Priced at 1,000 USD per million prompt tokens: $1 is TOKENS_PER_USD (1,000) tokens (spendUsd). */
const MODEL = 'test/auto-reload-card-removed-crash-model';
/** A short job lock, so BullMQ's stalled-job check hands the dead worker's job to the new one within seconds. */
const LOCK_MS = '2000';
const FAILURE_ALERTS = ['auto_reload_declined', 'auto_reload_action_required', 'auto_reload_paused'];

/**
 * A crossing's reload meets its card removed before the charge (recorded as the skip
 * `card_removed`) and owes one reload on the new default card (RetryAutoReloadService
 * .afterCardRemoved). A worker is killed between the two (FAILPOINT=after-card-removed), and the
 * retry is asked for again after it committed (its job redelivered, or two calls at once): either
 * way the new default is charged once, for the one crossing.
 */
describe('an auto-reload worker killed after recording the removed card', () => {
  const proxy = new StripeProxy(() => stack.stripeServer!.port);
  let stack: BillingStack;
  let payments: Queue;
  let inProcess: INestApplicationContext;
  let sut: RetryAutoReloadService;

  beforeAll(async () => {
    await proxy.start();
    stack = new BillingStack({
      // Each test starts its own workers (startWorker): the doomed one alone first.
      workers: 0,
      stripe: true,
      smtp: true,
      // Events recorded, not delivered: the detach's webhook would race the reload's charge.
      stripeServerEnv: { STRIPE_WEBHOOK_URL: '' },
    });
    await stack.start();
    payments = openStackQueue(stack, QueueName.Payments);
    await stack.setPrice(MODEL, '1000', '1000');
    // The retry service as the api process builds it, on the stack's Postgres, Redis and queues.
    const config = loadConfig(apiEnvSchema, { ...stack.appEnv, API_PORT: '0' });
    const moduleRef = await Test.createTestingModule({ imports: [ApiModule.register(config)] }).compile();
    inProcess = await moduleRef.init();
    sut = inProcess.get(RetryAutoReloadService, { strict: false });
  }, 120_000);

  afterEach(async () => {
    for (const worker of stack.workers) await worker.stop();
  });

  afterAll(async () => {
    await inProcess?.close();
    await payments?.close();
    await stack?.stop();
    await proxy.stop();
  });

  /**
   * A usage worker of the stack that reaches Stripe through the proxy (which holds the charge
   * while the card is removed), with a short job lock so BullMQ's stalled-job check hands a dead
   * worker's job to the next one within seconds.
   */
  async function startWorker(env: Record<string, string> = {}): Promise<AppProcess> {
    const worker = new AppProcess('usage-worker', {
      ...stack.appEnv,
      USAGE_LOCK_DURATION_MS: '3000',
      STRIPE_API_URL: proxy.url,
      PAYMENTS_LOCK_DURATION_MS: LOCK_MS,
      ...env,
    });
    stack.workers.push(worker);
    return worker.start();
  }

  /** Crossing 1's row names the visa; the owner removes it while the charge is held before Stripe. */
  async function removeVisaBeforeTheCharge(ws: Workspace, visa: SavedCard): Promise<void> {
    proxy.mode = 'hold-create-request';
    try {
      await spendUsd(stack, ws.accountId, MODEL, 6); // $10 -> $4: crossing 1
      await waitFor(
        () => proxy.heldCreates,
        (n) => n === 1,
        { what: "crossing 1's charge, its purchase row naming the visa" },
      );
      expect((await stack.admin.delete(`${ws.path}/payment-methods/${visa.id}`)).status).toBe(204);
    } finally {
      proxy.mode = 'pass';
      proxy.releaseHeld();
    }
  }

  /** The account's last crossing Postgres committed (as RetryAutoReloadService reads it). */
  async function lastCrossing(ws: Workspace): Promise<number> {
    const [{ last }] = await stack.stores.sql<{ last: number }[]>`
      select coalesce(max(split_part(redis_token, '#', 2)::int), 0)::int as last from ledger_entries
      where account_id = ${ws.accountId} and redis_token like '%#%'`;
    return last;
  }

  /**
   * The worker, alone, is killed with crossing 1 recorded as `card_removed` and the reload it owes
   * not yet made: no crossing 2 in Postgres, nothing charged.
   */
  async function crashAfterCardRemoved(ws: Workspace, visa: SavedCard): Promise<void> {
    const doomed = await startWorker({ FAILPOINT: 'after-card-removed' });
    await removeVisaBeforeTheCharge(ws, visa);
    expect(await doomed.waitForExit()).toBeNull(); // killed by SIGKILL, not a clean exit
    expect(await purchasesOf(ws)).toEqual([
      expect.objectContaining({
        status: 'canceled',
        failure_code: 'card_removed',
        payment_method_id: visa.id,
      }),
    ]);
    expect(await lastCrossing(ws)).toBe(1);
    expect(await intentsOf(ws)).toEqual([]);
  }

  async function intentsOf(ws: Workspace): Promise<Stripe.PaymentIntent[]> {
    const [{ stripe_customer_id: customer }] = await stack.stores.sql<{ stripe_customer_id: string }[]>`
      select stripe_customer_id from accounts where id = ${ws.accountId}`;
    return (await stack.stripeClient().paymentIntents.list({ customer, limit: 100 })).data;
  }

  async function purchasesOf(ws: Workspace) {
    return stack.stores.sql<
      { request_key: string; status: string; failure_code: string | null; payment_method_id: string }[]
    >`
      select request_key, status, failure_code, payment_method_id from credit_purchases
      where account_id = ${ws.accountId} and kind = 'auto_reload' order by created_at`;
  }

  /** Crossing 1 skipped as card_removed, crossing 2 charged once on the mastercard and credited once: $4 + $20. */
  async function expectOneReloadOnMastercard(ws: Workspace, visa: SavedCard, mastercard: SavedCard) {
    expect(await purchasesOf(ws)).toEqual([
      {
        request_key: autoReloadJobId(ws.accountId, 1),
        status: 'canceled',
        failure_code: 'card_removed',
        payment_method_id: visa.id,
      },
      {
        request_key: autoReloadJobId(ws.accountId, 2),
        status: 'succeeded',
        failure_code: null,
        payment_method_id: mastercard.id,
      },
    ]);
    const charged = (await intentsOf(ws)).map((intent) => [intent.payment_method, intent.status]);
    expect(charged).toEqual([[mastercard.id, 'succeeded']]);
    const [{ credits }] = await stack.stores.sql<{ credits: number }[]>`
      select count(*)::int as credits from ledger_entries
      where account_id = ${ws.accountId} and kind = 'auto_reload'`;
    expect(credits).toBe(1);
    expect(await lastCrossing(ws)).toBe(2);

    const expected = 24_000_000n;
    expect((await stack.stores.postgresBalances()).get(ws.accountId)).toBe(expected);
    expect((await stack.stores.ledgerSums()).get(ws.accountId)).toBe(expected);
    expect(await stack.stores.redisBalance(ws.accountId)).toBe(expected);
    expect(await stack.stores.pendingCount(ws.accountId)).toBe(0);
    expect((await stack.admin.get(`${ws.path}/auto-reload`)).body.consecutive_failures).toBe(0);
  }

  /** The account's alerts, each with the kinds of the emails sent for it. */
  async function alertsOf(ws: Workspace) {
    const alerts = await stack.stores.sql<{ id: string; kind: string }[]>`
      select id, kind from alerts where account_id = ${ws.accountId} order by raised_at`;
    return alerts.map((alert) => ({
      kind: alert.kind,
      emails: stack
        .smtp!.messages.filter((message) => message.headers.get('x-billing-alert-id') === alert.id)
        .map((message) => message.headers.get('x-billing-alert-kind')),
    }));
  }

  it('reloads once on the new default after a restart, with no failure email', async () => {
    const { ws, visa, mastercard } = await twoCardWorkspace(stack);
    await crashAfterCardRemoved(ws, visa);

    // Crossing 1's job, held by the dead worker, is redelivered to this one once its lock expires.
    await startWorker();
    await usageAndReloadsSettled(stack, payments);

    await expectOneReloadOnMastercard(ws, visa, mastercard);
    // The success is emailed; the removed card is not (no declined, action or paused alert at all).
    await waitFor(
      () => alertsOf(ws),
      (alerts) => alerts.some((alert) => alert.kind === 'auto_reload_succeeded' && alert.emails.length === 1),
      { what: 'the email of the reload on the mastercard' },
    );
    const alerts = await alertsOf(ws);
    expect(alerts.filter((alert) => FAILURE_ALERTS.includes(alert.kind))).toEqual([]);
    expect(alerts.filter((alert) => alert.kind === 'auto_reload_succeeded')).toEqual([
      { kind: 'auto_reload_succeeded', emails: ['auto_reload_succeeded'] },
    ]);
  });

  /**
   * The dangerous window: the retry committed (crossing 2 numbered, its job added) but not yet
   * charged, the balance still below the threshold, when the retry is asked for again, twice at
   * once, and crossing 1's job is redelivered from the dead worker.
   */
  it('makes no second reload when afterCardRemoved runs again after its retry committed', async () => {
    const { ws, visa, mastercard } = await twoCardWorkspace(stack);
    await crashAfterCardRemoved(ws, visa);

    expect(await sut.afterCardRemoved(ws.accountId, 1)).toBe(2);
    const again = await Promise.all([
      sut.afterCardRemoved(ws.accountId, 1),
      sut.afterCardRemoved(ws.accountId, 1),
    ]);
    expect(again).toEqual([null, null]); // crossing 2 is crossing 1's retry: no third crossing
    expect(await lastCrossing(ws)).toBe(2);
    expect(await stack.stores.redisBalance(ws.accountId)).toBe(4_000_000n);

    // Crossing 1's job comes back (its run asks for the retry again) with crossing 2's.
    await startWorker();
    await usageAndReloadsSettled(stack, payments);
    await expectOneReloadOnMastercard(ws, visa, mastercard);
  });

  it('makes no second reload when both jobs are delivered again after BullMQ forgot them', async () => {
    await startWorker();
    const { ws, visa, mastercard } = await twoCardWorkspace(stack);
    await removeVisaBeforeTheCharge(ws, visa);
    await usageAndReloadsSettled(stack, payments);
    await expectOneReloadOnMastercard(ws, visa, mastercard);

    // Crossing 1's run asks for the retry again, and crossing 2's job, added anew (nothing of it
    // kept by BullMQ), must find its charge already made.
    for (const crossing of [1, 2]) {
      const job = await payments.getJob(autoReloadJobId(ws.accountId, crossing));
      expect(await job!.getState()).toBe('completed');
      await job!.remove();
    }
    await payments.add(
      JobName.AutoReload,
      { accountId: ws.accountId, crossing: 1 },
      { jobId: autoReloadJobId(ws.accountId, 1) },
    );
    await waitFor(
      async () => (await payments.getJob(autoReloadJobId(ws.accountId, 2)))?.getState(),
      (state) => state === 'completed',
      { what: "crossing 2's job added again by crossing 1's redelivery, and run" },
    );
    await usageAndReloadsSettled(stack, payments);
    await expectOneReloadOnMastercard(ws, visa, mastercard);
  });
});
