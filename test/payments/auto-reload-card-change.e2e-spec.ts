import { Tx } from '@app/db';
import { QueueName } from '@app/queue';
import type { Queue } from 'bullmq';
import Stripe from 'stripe';
import { BillingStack } from '../support/billing-stack';
import { SavedCard, saveCard, twoCardWorkspace } from '../support/cards';
import { openStackQueue, usageAndReloadsSettled } from '../support/payments-queue';
import { spendUsd } from '../support/spend';
import { deliverStripeEvent } from '../support/stripe-webhooks';
import { StripeProxy } from '../support/stripe-proxy';
import { waitFor } from '../support/wait-for';
import { Workspace } from '../support/workspace';

/** Priced at 1,000 USD per million prompt tokens: $1 is TOKENS_PER_USD (1,000) tokens (spendUsd). */
const MODEL = 'test/auto-reload-card-change-model';

type CardChange = (tx: Tx) => Promise<void>;

/**
 * A new default card committed while a crossing's reload waits to open (for the account row's lock,
 * which card changes hold FOR UPDATE). Reading the default card before that wait, the reload
 * charged the card the owner had just replaced. The test holds the account row as a card change in
 * progress would, lets the reload run into it, makes the other card the default in that transaction
 * and commits. Usage takes the account row's key-share lock too (its ledger row's foreign key), so
 * the crossing is committed first, its job held back by pausing the payments queue.
 */
describe('an auto-reload racing a card change', () => {
  const proxy = new StripeProxy(() => stack.stripeServer!.port);
  let stack: BillingStack;
  let payments: Queue;

  /** Sessions of this suite's database waiting for the account row's lock before a reload opens. */
  async function reloadsWaitingForAccount(): Promise<number> {
    const [{ n }] = await stack.stores.sql<{ n: number }[]>`
      select count(*)::int as n from pg_stat_activity
      where datname = current_database() and wait_event_type = 'Lock'
        and query like '%from accounts where id = $1 for key share%'`;
    return n;
  }

  /**
   * Holds the account row FOR UPDATE, as a card change does (PaymentMethodsService.lockAccount),
   * until the returned function is called with the change to make in that transaction and commit.
   */
  async function holdAccountRow(accountId: string): Promise<(change: CardChange) => Promise<void>> {
    let commit!: (change: CardChange) => void;
    const committing = new Promise<CardChange>((resolve) => (commit = resolve));
    let held!: () => void;
    const holding = new Promise<void>((resolve) => (held = resolve));
    const done = stack.stores.sql.begin(async (tx) => {
      await tx`select 1 from accounts where id = ${accountId} for update`;
      held();
      const change = await committing;
      await change(tx);
    });
    await holding;
    return async (change) => {
      commit(change);
      await done;
    };
  }

  async function intentsOf(ws: Workspace): Promise<Stripe.PaymentIntent[]> {
    const [{ stripe_customer_id: customer }] = await stack.stores.sql<{ stripe_customer_id: string }[]>`
      select stripe_customer_id from accounts where id = ${ws.accountId}`;
    return (await stack.stripeClient().paymentIntents.list({ customer, limit: 100 })).data;
  }

  beforeAll(async () => {
    await proxy.start();
    stack = new BillingStack({
      workers: 1,
      stripe: true,
      // The worker reaches Stripe through the proxy, which can hold a charge before Stripe sees it.
      workerEnv: { STRIPE_API_URL: proxy.url },
      // Events are recorded, not delivered: a card detached in Stripe stays saved here until a
      // reload meets it (the webhook's payment_method.detached would race the reload's charge).
      stripeServerEnv: { STRIPE_WEBHOOK_URL: '' },
    });
    await stack.start();
    payments = openStackQueue(stack, QueueName.Payments);
    await stack.setPrice(MODEL, '1000', '1000');
  });

  afterAll(async () => {
    await payments?.close();
    await stack?.stop();
    await proxy.stop();
  });

  it('charges the card made the default while the reload waited for the account row', async () => {
    const ws = await Workspace.create(stack);
    await stack.grant(ws.accountId, '10.00');
    const visa = await saveCard(stack, ws, 'pm_card_visa');
    expect(visa.is_default).toBe(true); // the first card saved
    const mastercard = await saveCard(stack, ws, 'pm_card_mastercard');
    const settings = { enabled: true, threshold: '5.00', amount: '20.00' };
    expect((await stack.admin.put(`${ws.path}/auto-reload`, settings)).status).toBe(200);

    const jobId = `auto-reload:${ws.accountId}:1`;
    await payments.pause();
    let commitCardChange: (change: CardChange) => Promise<void>;
    try {
      await spendUsd(stack, ws.accountId, MODEL, 6); // $10 -> $4: crossing 1
      await waitFor(() => payments.getJob(jobId), Boolean, { what: 'the crossing job' });
      commitCardChange = await holdAccountRow(ws.accountId);
    } finally {
      await payments.resume();
    }
    try {
      await waitFor(reloadsWaitingForAccount, (n) => n === 1, {
        what: 'the reload to wait for the account row',
      });
    } finally {
      // What setDefault writes under its lock, less its audit row and the failure pause it ends
      // (none here). Committed even when the wait failed, so that nothing is left locked.
      await commitCardChange(async (tx) => {
        await tx`update payment_methods set is_default = false where account_id = ${ws.accountId} and is_default`;
        await tx`update payment_methods set is_default = true where id = ${mastercard.id} and detached_at is null`;
      });
    }
    await usageAndReloadsSettled(stack, payments);

    const purchases = await stack.stores.sql<
      { status: string; payment_method_id: string; card_brand: string; requested_payment_method_id: string }[]
    >`
      select status, payment_method_id, card_brand, requested_payment_method_id from credit_purchases
      where account_id = ${ws.accountId} and request_key = ${jobId}`;
    expect(purchases).toEqual([
      {
        status: 'succeeded',
        payment_method_id: mastercard.id,
        card_brand: 'mastercard',
        requested_payment_method_id: mastercard.id,
      },
    ]);
    expect((await intentsOf(ws)).map((intent) => intent.payment_method)).toEqual([mastercard.id]);
  });

  /**
   * Crossing 1's purchase row opened naming the visa, its charge held before Stripe sees it while
   * `removeVisa` runs; then the charge goes on and every job finishes.
   */
  async function removeVisaBeforeTheCharge(ws: Workspace, removeVisa: () => Promise<void>) {
    proxy.mode = 'hold-create-request';
    try {
      await spendUsd(stack, ws.accountId, MODEL, 6); // $10 -> $4: crossing 1
      await waitFor(
        () => proxy.heldCreates,
        (n) => n === 1,
        { what: "crossing 1's charge, its purchase row naming the visa" },
      );
      await removeVisa();
    } finally {
      proxy.mode = 'pass';
      proxy.releaseHeld();
    }
    await usageAndReloadsSettled(stack, payments);
  }

  /** Crossing 1 canceled, nothing declined or counted, crossing 2 charged the mastercard: $4 + $20. */
  async function expectOneReloadOnMastercard(ws: Workspace, visa: SavedCard, mastercard: SavedCard) {
    const purchases = await stack.stores.sql<
      { request_key: string; status: string; failure_code: string | null; payment_method_id: string }[]
    >`
      select request_key, status, failure_code, payment_method_id from credit_purchases
      where account_id = ${ws.accountId} and kind = 'auto_reload' order by created_at`;
    expect(purchases).toEqual([
      {
        request_key: `auto-reload:${ws.accountId}:1`,
        status: 'canceled',
        failure_code: 'card_removed',
        payment_method_id: visa.id,
      },
      {
        request_key: `auto-reload:${ws.accountId}:2`,
        status: 'succeeded',
        failure_code: null,
        payment_method_id: mastercard.id,
      },
    ]);
    const charged = (await intentsOf(ws)).map((intent) => [intent.payment_method, intent.status]);
    expect(charged).toEqual([[mastercard.id, 'succeeded']]);
    const balance = await stack.gateway.get(`/v1/accounts/${ws.accountId}/balance`);
    expect(balance.body.balance).toBe('24.000000');

    const [declines] = await stack.stores.sql<{ audited: number; alerted: number }[]>`
      select (select count(*)::int from audit_log
              where account_id = ${ws.accountId} and action = 'auto_reload.declined') as audited,
             (select count(*)::int from alerts
              where account_id = ${ws.accountId} and kind = 'auto_reload_declined') as alerted`;
    expect(declines).toEqual({ audited: 0, alerted: 0 });
    expect((await stack.admin.get(`${ws.path}/auto-reload`)).body.consecutive_failures).toBe(0);
    const cards = await stack.admin.get<{ payment_methods: SavedCard[] }>(`${ws.path}/payment-methods`);
    const saved = cards.body.payment_methods.map((card) => [card.id, card.is_default]);
    expect(saved).toEqual([[mastercard.id, true]]);
  }

  /**
   * The owner removes the card a reload's purchase row already names, before its charge reaches
   * Stripe (which then refuses the detached card, payment_method_unexpected_state). Recorded as a
   * decline, that emailed the owner about the removed card, counted a failure against the new
   * default and never reloaded: the removal's retry had found the reload still in flight.
   */
  it('reloads once on the new default when the card its purchase names is removed before the charge', async () => {
    const { ws, visa, mastercard } = await twoCardWorkspace(stack);
    await removeVisaBeforeTheCharge(ws, async () => {
      expect((await stack.admin.delete(`${ws.path}/payment-methods/${visa.id}`)).status).toBe(204);
    });
    await expectOneReloadOnMastercard(ws, visa, mastercard);
  });

  /**
   * Stripe detaches first: remove() records it after, and a detach in Stripe's dashboard only with
   * its webhook (not delivered in this suite). The charge failing on such a card is the reload's
   * first news of it: Stripe's refusal, confirmed by reading the card, counts as the removal.
   */
  it('reloads once on the new default when the card was detached in Stripe and not yet here', async () => {
    const { ws, visa, mastercard } = await twoCardWorkspace(stack);
    await removeVisaBeforeTheCharge(ws, async () => {
      await stack.stripeClient().paymentMethods.detach(visa.id);
    });
    await expectOneReloadOnMastercard(ws, visa, mastercard);
    const [removal] = await stack.stores.sql<{ actor_type: string }[]>`
      select actor_type from audit_log
      where account_id = ${ws.accountId} and action = 'payment_method.removed' and target_id = ${visa.id}`;
    expect(removal).toEqual({ actor_type: 'system' });
  });
  const deliver = (event: Stripe.Event) => deliverStripeEvent(stack, event);

  async function detachedEventOf(paymentMethodId: string): Promise<Stripe.Event> {
    const found = await waitFor(
      async () =>
        (await stack.stripeClient().events.list({ limit: 100, type: 'payment_method.detached' })).data.find(
          (event) => (event.data.object as { id?: string }).id === paymentMethodId,
        ),
      (event) => event !== undefined,
      { what: `the payment_method.detached event of ${paymentMethodId}` },
    );
    return found!;
  }

  /**
   * The default card, declined, detached in Stripe's dashboard: its webhook promoted the other card
   * but, unlike a removal through the api, never retried the failed reload, so the balance stayed
   * below the threshold until the owner acted. Delivered twice at once, and again, it reloads once.
   */
  it('reloads once on the card promoted when the declined default is detached in Stripe', async () => {
    const ws = await Workspace.create(stack);
    await stack.grant(ws.accountId, '10.00');
    const declining = await saveCard(stack, ws, 'pm_card_chargeDeclinedInsufficientFunds');
    const mastercard = await saveCard(stack, ws, 'pm_card_mastercard');
    expect(declining.is_default).toBe(true);
    const settings = { enabled: true, threshold: '5.00', amount: '20.00' };
    expect((await stack.admin.put(`${ws.path}/auto-reload`, settings)).status).toBe(200);
    await spendUsd(stack, ws.accountId, MODEL, 6); // $10 -> $4: crossing 1, declined
    await usageAndReloadsSettled(stack, payments);

    await stack.stripeClient().paymentMethods.detach(declining.id);
    const detached = await detachedEventOf(declining.id);
    expect(await Promise.all([deliver(detached), deliver(detached)])).toEqual([200, 200]);
    await usageAndReloadsSettled(stack, payments);
    // Redelivered as if the api died after the retry, before recording the event: it retries again,
    // finding the card already detached, and that retry must not reload a second time.
    const forgotten = await stack.stores
      .sql`delete from stripe_events where id = ${detached.id} returning id`;
    expect(forgotten).toHaveLength(1);
    expect(await deliver(detached)).toBe(200);
    await usageAndReloadsSettled(stack, payments);

    const purchases = await stack.stores.sql<
      { request_key: string; status: string; decline_code: string | null; payment_method_id: string }[]
    >`
      select request_key, status, decline_code, payment_method_id from credit_purchases
      where account_id = ${ws.accountId} and kind = 'auto_reload' order by created_at`;
    expect(purchases).toEqual([
      {
        request_key: `auto-reload:${ws.accountId}:1`,
        status: 'failed',
        decline_code: 'insufficient_funds',
        payment_method_id: declining.id,
      },
      {
        request_key: `auto-reload:${ws.accountId}:2`,
        status: 'succeeded',
        decline_code: null,
        payment_method_id: mastercard.id,
      },
    ]);
    const succeeded = (await intentsOf(ws)).filter((intent) => intent.status === 'succeeded');
    expect(succeeded.map((intent) => intent.payment_method)).toEqual([mastercard.id]);
    const balance = await stack.gateway.get(`/v1/accounts/${ws.accountId}/balance`);
    expect(balance.body.balance).toBe('24.000000');
  });
  /**
   * Only a promotion is a fix: a card detached that was not the default (here, once, before the
   * owner chose the declining one) leaves the declining default, which is not charged again.
   */
  it('does not retry a declined reload when a card that is not the default is detached in Stripe', async () => {
    const ws = await Workspace.create(stack);
    await stack.grant(ws.accountId, '10.00');
    const visa = await saveCard(stack, ws, 'pm_card_visa');
    const declining = await saveCard(stack, ws, 'pm_card_chargeDeclinedInsufficientFunds');
    expect((await stack.admin.post(`${ws.path}/payment-methods/${declining.id}/default`)).status).toBe(200);
    const settings = { enabled: true, threshold: '5.00', amount: '20.00' };
    expect((await stack.admin.put(`${ws.path}/auto-reload`, settings)).status).toBe(200);
    await spendUsd(stack, ws.accountId, MODEL, 6); // $10 -> $4: crossing 1, declined
    await usageAndReloadsSettled(stack, payments);

    await stack.stripeClient().paymentMethods.detach(visa.id);
    expect(await deliver(await detachedEventOf(visa.id))).toBe(200);
    await usageAndReloadsSettled(stack, payments);

    const purchases = await stack.stores.sql<
      { request_key: string; status: string; payment_method_id: string }[]
    >`
      select request_key, status, payment_method_id from credit_purchases
      where account_id = ${ws.accountId} and kind = 'auto_reload' order by created_at`;
    expect(purchases).toEqual([
      { request_key: `auto-reload:${ws.accountId}:1`, status: 'failed', payment_method_id: declining.id },
    ]);
    expect(await intentsOf(ws)).toHaveLength(1); // the decline's: the declining card not charged again
    const cards = await stack.admin.get<{ payment_methods: SavedCard[] }>(`${ws.path}/payment-methods`);
    expect(cards.body.payment_methods.map((card) => [card.id, card.is_default])).toEqual([
      [declining.id, true],
    ]);
  });
});
