import { JobName, QueueName } from '@app/queue';
import type { Queue } from 'bullmq';
import { randomUUID } from 'node:crypto';
import Stripe from 'stripe';
import { JsonResponse } from '../support/api-client';
import { BillingStack } from '../support/billing-stack';
import { saveCard } from '../support/cards';
import { expectEveryBalanceAgrees, openStackQueue, usageAndReloadsSettled } from '../support/payments-queue';
import { spendUsd } from '../support/spend';
import { waitFor } from '../support/wait-for';
import { Workspace } from '../support/workspace';

/** Priced at 1,000 USD per million prompt tokens: $1 is TOKENS_PER_USD (1,000) tokens (spendUsd). */
const MODEL = 'test/auto-reload-model';

interface PurchaseRow {
  id: string;
  kind: string;
  request_key: string;
  amount_micros: bigint;
  status: string;
  payment_intent_id: string | null;
  payment_method_id: string | null;
  card_brand: string | null;
  card_last4: string | null;
  failure_code: string | null;
  decline_code: string | null;
}

/**
 * Auto-reload (issue "Payments" item 4; I2, I4): a usage deduction that takes the balance below
 * the threshold charges the default card off-session once per crossing, whatever the
 * concurrency and redeliveries; declines, authentication and the monthly cap are recorded and
 * never loop; three failures in a row pause it until the card changes.
 */
describe('auto-reload', () => {
  const stack = new BillingStack({ workers: 2, stripe: true, workerEnv: { USAGE_WORKER_CONCURRENCY: '4' } });
  let stripe: Stripe;
  let payments: Queue;

  /** BullMQ opens (and closes) its own connections from these. */

  function expectError(response: JsonResponse, status: number, code: string): void {
    expect({ status: response.status, code: response.body?.error?.code }).toEqual({ status, code });
  }

  function putSettings(ws: Workspace, settings: Record<string, unknown>) {
    return stack.admin.put(`${ws.path}/auto-reload`, settings);
  }

  /** A workspace with `grant` of credits, a card, and auto-reload at $5 -> +$20. */
  async function reloadingWorkspace(card = 'pm_card_visa', extra: Record<string, unknown> = {}) {
    const ws = await Workspace.create(stack);
    await stack.grant(ws.accountId, '10.00');
    await saveCard(stack, ws, card);
    const saved = await putSettings(ws, { enabled: true, threshold: '5.00', amount: '20.00', ...extra });
    expect(saved.status).toBe(200);
    return ws;
  }

  /** One usage batch (one ingest request) costing exactly `usd`. */
  const spend = (ws: Workspace, usd: number) => spendUsd(stack, ws.accountId, MODEL, usd);

  /** Every usage batch processed and every reload job it added finished. */
  const settled = () => usageAndReloadsSettled(stack, payments);

  async function purchasesOf(ws: Workspace): Promise<PurchaseRow[]> {
    return stack.stores.sql<PurchaseRow[]>`
      select id, kind, request_key, amount_micros, status, payment_intent_id, payment_method_id, card_brand,
             card_last4, failure_code, decline_code
      from credit_purchases where account_id = ${ws.accountId} order by created_at, request_key`;
  }

  async function balanceOf(ws: Workspace): Promise<bigint> {
    return (await stack.stores.postgresBalances()).get(ws.accountId)!;
  }

  async function settingsOf(ws: Workspace) {
    const response = await stack.admin.get(`${ws.path}/auto-reload`);
    expect(response.status).toBe(200);
    return response.body;
  }

  async function auditOf(ws: Workspace, action: string) {
    const response = await stack.admin.get(`${ws.path}/audit-log?limit=1000&action=${action}`);
    expect(response.status).toBe(200);
    return response.body.entries as { target: { type: string; id: string }; after: any }[];
  }

  async function paymentIntentsOf(ws: Workspace): Promise<Stripe.PaymentIntent[]> {
    const [{ stripe_customer_id }] = await stack.stores.sql<{ stripe_customer_id: string }[]>`
      select stripe_customer_id from accounts where id = ${ws.accountId}`;
    return (await stripe.paymentIntents.list({ customer: stripe_customer_id, limit: 100 })).data;
  }

  beforeAll(async () => {
    await stack.start();
    stripe = stack.stripeClient();
    payments = openStackQueue(stack, QueueName.Payments);
    await stack.setPrice(MODEL, '1000', '1000');
  });

  afterAll(async () => {
    await payments?.close();
    await stack.stop();
  });

  // Redis = Postgres = the ledger, for every account, once everything has settled.
  afterEach(async () => {
    await settled();
    await expectEveryBalanceAgrees(stack);
  });

  describe('settings', () => {
    it('refuses to turn auto-reload on without a default card', async () => {
      const ws = await Workspace.create(stack);
      const response = await putSettings(ws, { enabled: true, threshold: '5.00', amount: '20.00' });
      expectError(response, 422, 'no_default_card');
      expect((await settingsOf(ws)).enabled).toBe(false);
    });

    it('refuses amounts outside the purchase limits or in fractions of a cent', async () => {
      const ws = await Workspace.create(stack);
      for (const amount of ['4.99', '25000.01', '10.001']) {
        const response = await putSettings(ws, { enabled: false, threshold: '5.00', amount });
        expectError(response, 422, 'invalid_amount');
      }
      const cap = await putSettings(ws, {
        enabled: false,
        threshold: '5.00',
        amount: '20.00',
        monthly_cap: '10.00',
      });
      expectError(cap, 422, 'invalid_monthly_cap');
    });

    it('saves the settings as USD strings, with an audit row', async () => {
      const ws = await Workspace.create(stack);
      await saveCard(stack, ws);
      const response = await putSettings(ws, {
        enabled: true,
        threshold: '7.5',
        amount: '30.00',
        monthly_cap: '300',
      });
      expect(response.status).toBe(200);
      expect(response.body).toMatchObject({
        enabled: true,
        threshold: '7.500000',
        amount: '30.000000',
        monthly_cap: '300.000000',
        reloaded_this_month: '0.000000',
        consecutive_failures: 0,
        paused: false,
      });
      expect(await settingsOf(ws)).toEqual(response.body);
      const [entry] = await auditOf(ws, 'auto_reload.settings_changed');
      expect(entry.after).toEqual({
        enabled: true,
        threshold_micros: '7500000',
        amount_micros: '30000000',
        monthly_cap_micros: '300000000',
      });
    });
  });

  describe('with a card that pays', () => {
    it('reloads exactly once when many concurrent batches cross the threshold', async () => {
      const ws = await reloadingWorkspace();
      // 20 batches of $0.50 at once: $10 -> $0, crossing $5 in exactly one of them.
      await Promise.all(Array.from({ length: 20 }, () => spend(ws, 0.5)));
      await settled();

      const purchases = await purchasesOf(ws);
      expect(purchases).toEqual([
        expect.objectContaining({
          kind: 'auto_reload',
          request_key: `auto-reload:${ws.accountId}:1`,
          amount_micros: 20_000_000n,
          status: 'succeeded',
          card_brand: 'visa',
          card_last4: '4242',
        }),
      ]);
      expect(await balanceOf(ws)).toBe(20_000_000n);
      const ledger = await stack.stores.sql<{ kind: string; amount_micros: bigint }[]>`
        select kind, amount_micros from ledger_entries
        where account_id = ${ws.accountId} and idempotency_key = ${'purchase:' + purchases[0].id}`;
      expect(ledger).toEqual([{ kind: 'auto_reload', amount_micros: 20_000_000n }]);
      const intents = await paymentIntentsOf(ws);
      expect(intents.map((intent) => [intent.status, intent.amount, intent.metadata.crossing])).toEqual([
        ['succeeded', 2000, '1'],
      ]);
      expect(await auditOf(ws, 'auto_reload.succeeded')).toEqual([
        expect.objectContaining({ target: { type: 'purchase', id: purchases[0].id } }),
      ]);
    });

    it('reloads once for a batch whose worker died after committing it, and not for a late redelivery', async () => {
      const ws = await reloadingWorkspace();
      const [first, second] = stack.workers;
      await Promise.all([first.stop(), second.stop()]);
      await first.start({ FAILPOINT: 'after-commit' });
      // $10 -> $4: crossed and committed, then killed before the settle and the reload job.
      const crossingEvent = await spend(ws, 6);
      expect(await first.waitForExit()).toBeNull();
      // Postgres holds the crossing (its number rides on the committed token); no reload has started.
      const [committed] = await stack.stores.sql<{ redis_token: string }[]>`
        select redis_token from ledger_entries where account_id = ${ws.accountId} and kind = 'usage'`;
      expect(committed.redis_token).toMatch(/#1$/);
      expect(await purchasesOf(ws)).toEqual([]);
      await Promise.all([first.start(), second.start()]);
      await settled();
      expect((await purchasesOf(ws)).map((p) => [p.request_key, p.status])).toEqual([
        [`auto-reload:${ws.accountId}:1`, 'succeeded'],
      ]);
      expect(await balanceOf(ws)).toBe(24_000_000n);

      // $24 -> $10, then the crossing batch delivered again long after it settled: its second
      // deduction ($10 -> $4) crosses in Redis, but Postgres committed the first attempt, so the
      // settle undoes it and no reload follows.
      await spend(ws, 14);
      await settled();
      const [{ idempotency_key }] = await stack.stores.sql<{ idempotency_key: string }[]>`
        select idempotency_key from ledger_entries where account_id = ${ws.accountId}
          and kind = 'usage' and amount_micros = -6000000`;
      const [{ occurred_at }] = await stack.stores.sql<{ occurred_at: Date }[]>`
        select occurred_at from usage_events where account_id = ${ws.accountId} and event_id = ${crossingEvent.id}`;
      const usage = openStackQueue(stack, QueueName.Usage);
      const batchId = idempotency_key.split(':')[1];
      await usage.add(
        JobName.MeterUsageBatch,
        {
          batchId,
          receivedAt: Date.now(),
          events: [
            { ...crossingEvent, cached_tokens: 0, reasoning_tokens: 0, occurred_at: occurred_at.getTime() },
          ],
        },
        { jobId: `${batchId}-late`, removeOnComplete: true },
      );
      await usage.close();
      await settled();

      expect(await purchasesOf(ws)).toHaveLength(1);
      expect(await balanceOf(ws)).toBe(10_000_000n);
      // The late attempt did cross in Redis (crossing 2), but only a committed crossing gets a job.
      expect(
        await stack.stores.redis.hget(`${stack.stores.prefix}:acct:{${ws.accountId}}:b`, 'reloads'),
      ).toBe('2');
      expect(await payments.getJob(`auto-reload:${ws.accountId}:2`)).toBeUndefined();
    });

    it('reloads at the next deduction when a batch of duplicates took the crossing and was undone', async () => {
      const ws = await reloadingWorkspace();
      const charged = await spend(ws, 3); // $10 -> $7
      await settled();
      const [{ occurred_at }] = await stack.stores.sql<{ occurred_at: Date }[]>`
        select occurred_at from usage_events where account_id = ${ws.accountId} and event_id = ${charged.id}`;
      // A gateway retry that got past ingest's dedupe: the same event under a new batch. Its
      // deduction ($7 -> $4) takes the crossing, then its worker dies before the commit.
      const [first, second] = stack.workers;
      await Promise.all([first.stop(), second.stop()]);
      await first.start({ FAILPOINT: 'after-deduct' });
      const usage = openStackQueue(stack, QueueName.Usage);
      const duplicates = randomUUID();
      await usage.add(
        JobName.MeterUsageBatch,
        {
          batchId: duplicates,
          receivedAt: Date.now(),
          events: [{ ...charged, cached_tokens: 0, reasoning_tokens: 0, occurred_at: occurred_at.getTime() }],
        },
        { jobId: duplicates, removeOnComplete: true },
      );
      await usage.close();
      expect(await first.waitForExit()).toBeNull();
      // Real usage meanwhile starts below the threshold ($4 -> $1.50): no crossing of its own.
      await spend(ws, 2.5);
      await Promise.all([first.start(), second.start()]);
      await settled();
      // Postgres kept nothing of the duplicates: $7 -> $4.50 really crossed, yet no reload ran.
      expect(await purchasesOf(ws)).toEqual([]);
      expect(await balanceOf(ws)).toBe(4_500_000n);

      await spend(ws, 0.5); // $4.50 -> $4: the crossing is made again, once
      await settled();
      expect((await purchasesOf(ws)).map((p) => [p.request_key, p.status])).toEqual([
        [`auto-reload:${ws.accountId}:2`, 'succeeded'],
      ]);
      expect(await balanceOf(ws)).toBe(24_000_000n);
    });

    it('reloads again on a second crossing and skips the third when it would exceed the monthly cap', async () => {
      const ws = await reloadingWorkspace('pm_card_visa', { monthly_cap: '40.00' });
      await spend(ws, 6); // $10 -> $4: reload to $24
      await settled();
      await spend(ws, 20); // $24 -> $4: reload to $24 ($40 this month)
      await settled();
      await spend(ws, 20); // $24 -> $4: a third $20 would make $60 > $40
      await settled();

      const purchases = await purchasesOf(ws);
      expect(purchases.map((p) => [p.request_key, p.status, p.failure_code])).toEqual([
        [`auto-reload:${ws.accountId}:1`, 'succeeded', null],
        [`auto-reload:${ws.accountId}:2`, 'succeeded', null],
        [`auto-reload:${ws.accountId}:3`, 'canceled', 'monthly_cap_reached'],
      ]);
      expect(await balanceOf(ws)).toBe(4_000_000n);
      expect(await paymentIntentsOf(ws)).toHaveLength(2);
      const [skipped] = await auditOf(ws, 'auto_reload.skipped');
      expect(skipped.after).toMatchObject({ reason: 'monthly_cap_reached', crossing: 3 });
      expect(await settingsOf(ws)).toMatchObject({ reloaded_this_month: '40.000000' });
    });
  });

  describe('with a card that is declined', () => {
    it('records each decline without credits or retries, pauses after three, and resumes with a new default card', async () => {
      const ws = await reloadingWorkspace('pm_card_chargeDeclinedInsufficientFunds');
      for (let crossing = 1; crossing <= 3; crossing++) {
        if (crossing > 1) await stack.grant(ws.accountId, '10.00'); // $4 -> $14
        await spend(ws, 10 - (crossing === 1 ? 4 : 0)); // -> $4
        await settled();
        const job = await payments.getJob(`auto-reload:${ws.accountId}:${crossing}`);
        // A hard decline completes the job: no retry loop charging the card again.
        expect({ state: await job?.getState(), attempts: job?.attemptsMade }).toEqual({
          state: 'completed',
          attempts: 1,
        });
        expect((await settingsOf(ws)).consecutive_failures).toBe(crossing);
      }

      const purchases = await purchasesOf(ws);
      expect(purchases.map((p) => [p.status, p.failure_code, p.decline_code])).toEqual(
        Array(3).fill(['failed', 'card_declined', 'insufficient_funds']),
      );
      expect(await balanceOf(ws)).toBe(4_000_000n);
      expect(
        await stack.stores.sql`
        select 1 from ledger_entries where account_id = ${ws.accountId} and kind = 'auto_reload'`,
      ).toHaveLength(0);
      expect(await paymentIntentsOf(ws)).toHaveLength(3);
      expect(await auditOf(ws, 'auto_reload.declined')).toHaveLength(3);
      expect(await auditOf(ws, 'auto_reload.paused')).toHaveLength(1);
      const paused = await settingsOf(ws);
      expect(paused).toMatchObject({ paused: true, consecutive_failures: 3, enabled: true });
      expect(paused.paused_reason).toContain('insufficient_funds');

      // Paused: the next crossing is recorded as skipped, and the card is not charged.
      await stack.grant(ws.accountId, '10.00');
      await spend(ws, 10);
      await settled();
      expect((await purchasesOf(ws))[3]).toMatchObject({ status: 'canceled', failure_code: 'paused' });
      expect(await paymentIntentsOf(ws)).toHaveLength(3);

      // A new default card ends the pause and, the balance still below the threshold, reloads at once.
      const visa = await saveCard(stack, ws, 'pm_card_visa');
      const made = await stack.admin.post(`${ws.path}/payment-methods/${visa.id}/default`);
      expect(made.status).toBe(200);
      expect(await settingsOf(ws)).toMatchObject({ paused: false, consecutive_failures: 0, paused_at: null });
      await settled();
      expect((await purchasesOf(ws))[4]).toMatchObject({
        status: 'succeeded',
        card_last4: '4242',
        request_key: `auto-reload:${ws.accountId}:5`,
      });
      expect(await balanceOf(ws)).toBe(24_000_000n);
    });
  });

  describe('after a failed reload, below the threshold', () => {
    async function ledgerOf(ws: Workspace) {
      return stack.stores.sql<{ kind: string; amount_micros: bigint; idempotency_key: string }[]>`
        select kind, amount_micros, idempotency_key from ledger_entries
        where account_id = ${ws.accountId} and kind <> 'usage' order by id`;
    }

    it('reloads once for a new default card after a decline, and not again when asked again', async () => {
      const ws = await reloadingWorkspace('pm_card_chargeDeclinedInsufficientFunds');
      await spend(ws, 6); // $10 -> $4: crossing 1, declined
      await settled();
      await spend(ws, 1); // $4 -> $3: starts below the threshold, no crossing
      await settled();
      expect((await purchasesOf(ws)).map((p) => p.status)).toEqual(['failed']);

      const visa = await saveCard(stack, ws, 'pm_card_visa');
      const made = await stack.admin.post(`${ws.path}/payment-methods/${visa.id}/default`);
      expect(made.status).toBe(200);
      await settled();
      // The same request again (a client retry), and saving the settings: the reload is made.
      expect((await stack.admin.post(`${ws.path}/payment-methods/${visa.id}/default`)).status).toBe(200);
      expect((await putSettings(ws, { enabled: true, threshold: '5.00', amount: '20.00' })).status).toBe(200);
      await settled();

      expect((await purchasesOf(ws)).map((p) => [p.request_key, p.status, p.card_last4])).toEqual([
        [`auto-reload:${ws.accountId}:1`, 'failed', expect.any(String)],
        [`auto-reload:${ws.accountId}:2`, 'succeeded', '4242'],
      ]);
      expect(await balanceOf(ws)).toBe(23_000_000n);
      const purchases = await purchasesOf(ws);
      expect(await ledgerOf(ws)).toEqual([
        expect.objectContaining({ kind: 'grant', amount_micros: 10_000_000n }),
        { kind: 'adjustment', amount_micros: 0n, idempotency_key: `auto-reload-retry:${ws.accountId}:1` },
        {
          kind: 'auto_reload',
          amount_micros: 20_000_000n,
          idempotency_key: `purchase:${purchases[1].id}`,
        },
      ]);
      expect((await paymentIntentsOf(ws)).map((intent) => intent.status).sort()).toEqual([
        'requires_payment_method',
        'succeeded',
      ]);
    });

    it('reloads once for a new card after authentication_required, racing usage and retries', async () => {
      const ws = await reloadingWorkspace('pm_card_authenticationRequired');
      await spend(ws, 6); // $10 -> $4: crossing 1, authentication required
      await settled();
      expect((await purchasesOf(ws)).map((p) => p.status)).toEqual(['requires_action']);

      const visa = await saveCard(stack, ws, 'pm_card_visa');
      const makeDefault = () => stack.admin.post(`${ws.path}/payment-methods/${visa.id}/default`);
      const responses = await Promise.all([
        makeDefault(),
        makeDefault(),
        ...Array.from({ length: 5 }, () => spend(ws, 0.5)),
        makeDefault(),
      ]);
      expect([responses[0], responses[1], responses[7]].map((r) => (r as JsonResponse).status)).toEqual([
        200, 200, 200,
      ]);
      await settled();

      const purchases = await purchasesOf(ws);
      expect(purchases.map((p) => [p.request_key, p.status])).toEqual([
        [`auto-reload:${ws.accountId}:1`, 'requires_action'],
        [`auto-reload:${ws.accountId}:2`, 'succeeded'],
      ]);
      // $4 - 5 x $0.50 + $20, one reload credited once.
      expect(await balanceOf(ws)).toBe(21_500_000n);
      expect((await ledgerOf(ws)).filter((row) => row.kind === 'auto_reload')).toEqual([
        { kind: 'auto_reload', amount_micros: 20_000_000n, idempotency_key: `purchase:${purchases[1].id}` },
      ]);
      expect((await paymentIntentsOf(ws)).filter((intent) => intent.status === 'succeeded')).toHaveLength(1);
    });
  });

  describe('with a card that needs authentication', () => {
    it('records the payment as waiting for the card holder, without credits', async () => {
      const ws = await reloadingWorkspace('pm_card_authenticationRequired');
      await spend(ws, 6);
      await settled();

      const [purchase] = await purchasesOf(ws);
      expect(purchase).toMatchObject({ status: 'requires_action', failure_code: 'authentication_required' });
      expect(purchase.payment_intent_id).toMatch(/^pi_/);
      expect(await balanceOf(ws)).toBe(4_000_000n);
      const [entry] = await auditOf(ws, 'auto_reload.authentication_required');
      expect(entry.after).toMatchObject({
        payment_intent: purchase.payment_intent_id,
        next_step: 'confirm_payment_on_session',
        consecutive_failures: 1,
      });
      // Stripe keeps the PaymentIntent for the card holder to confirm on session.
      const intent = await stripe.paymentIntents.retrieve(purchase.payment_intent_id!);
      expect(intent.last_payment_error?.code).toBe('authentication_required');
    });

    it('completed on session with another card, the reload and its invoice name the card that paid', async () => {
      const ws = await reloadingWorkspace('pm_card_authenticationRequired');
      await spend(ws, 6);
      await settled();
      const [pending] = await purchasesOf(ws);
      expect(pending).toMatchObject({ status: 'requires_action', card_last4: '3184' });

      // The owner confirms the PaymentIntent in Stripe.js with a card typed there; the webhook credits it.
      const paid = await stripe.paymentIntents.confirm(pending.payment_intent_id!, {
        payment_method: 'pm_card_mastercard',
      });
      expect(paid.status).toBe('succeeded');
      const [reloaded] = await waitFor(
        () => purchasesOf(ws),
        ([row]) => row.status === 'succeeded',
        { what: 'the webhook to credit the auto-reload' },
      );

      expect(reloaded).toMatchObject({
        payment_method_id: paid.payment_method,
        card_brand: 'mastercard',
        card_last4: '4444',
      });
      const [invoice] = await stack.stores.sql<{ card_brand: string; card_last4: string }[]>`
        select card_brand, card_last4 from invoices where purchase_id = ${reloaded.id}`;
      expect(invoice).toEqual({ card_brand: 'mastercard', card_last4: '4444' });
      expect(await balanceOf(ws)).toBe(24_000_000n);
    });
  });

  it('counts outcomes in billing_auto_reloads_total', async () => {
    const texts = await Promise.all(
      stack.workers.map(async (worker) => (await fetch(`${worker.url}/metrics`)).text()),
    );
    const total = (outcome: string) =>
      texts
        .map((text) =>
          new RegExp(`billing_auto_reloads_total\\{outcome="${outcome}"[^}]*\\} (\\d+)`).exec(text),
        )
        .reduce((sum, match) => sum + Number(match?.[1] ?? 0), 0);
    // Workers restarted by the crash test lost their earlier counts; these came after it.
    expect(total('succeeded')).toBeGreaterThanOrEqual(3);
    expect(total('declined')).toBe(4);
    expect(total('paused')).toBe(1);
    expect(total('skipped')).toBe(2);
    // One per test above that starts with pm_card_authenticationRequired.
    expect(total('authentication_required')).toBe(3);
  });
});
