import { purchaseIntentKey } from '@app/payments';
import { randomUUID } from 'node:crypto';
import Stripe from 'stripe';
import { JsonResponse } from '../support/api-client';
import { BillingStack, STACK_WEBHOOK_SECRET } from '../support/billing-stack';
import { confirmCardSetup, saveCard } from '../support/cards';
import { waitFor } from '../support/wait-for';
import { Workspace } from '../support/workspace';

/**
 * The Stripe webhook (issue "Payments" item 5; I2, I4, I5, I7): signed, handled once per event in
 * the transaction of its effect, from the object's current state in Stripe, whatever the order,
 * the repetitions or the api's downtime. Stripe is the repo's test server as a real process.
 */

type Stack = BillingStack;

/** What a suite needs of one stack: its SDK client and the steps a customer or Stripe takes. */
function stackHelpers(stack: Stack) {
  const stripe = () => stack.stripeClient();

  async function testHelper(path: string, body: unknown = {}): Promise<any> {
    const response = await fetch(`${stack.stripeServer!.url}/_test/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(response.status).toBe(200);
    return response.json();
  }

  /** The card holder completes (or fails) 3-D Secure: Stripe.js in real life. */
  const authenticate = (kind: 'setup_intents' | 'payment_intents', id: string, outcome = 'succeed') =>
    testHelper(`${kind}/${id}/authenticate`, { outcome });

  const buy = (ws: Workspace, amount: string, key = randomUUID()) =>
    stack.admin.post(`${ws.path}/purchases`, { amount }, { 'idempotency-key': key });

  async function purchaseOf(ws: Workspace, purchaseId: string) {
    const response = await stack.admin.get(`${ws.path}/purchases/${purchaseId}`);
    expect(response.status).toBe(200);
    return response.body;
  }

  /** Ledger rows, Postgres, ledger sum and Redis balances of one account. */
  async function moneyOf(ws: Workspace) {
    const rows = await stack.stores.sql<{ kind: string; amount_micros: bigint; idempotency_key: string }[]>`
      select kind, amount_micros, idempotency_key from ledger_entries where account_id = ${ws.accountId} order by id`;
    const [{ balance }] = await stack.stores.sql<{ balance: bigint }[]>`
      select coalesce(sum(balance_micros), 0)::bigint as balance from account_balances where account_id = ${ws.accountId}`;
    return {
      ledger: rows.map((row) => [row.kind, row.amount_micros]),
      ledgerSum: rows.reduce((sum, row) => sum + row.amount_micros, 0n),
      postgres: balance,
      redis: await stack.stores.redisBalance(ws.accountId),
    };
  }

  /** The account's ledger rows (in any order) and all three balances equal to their sum. */
  async function expectMoney(ws: Workspace, ledger: [string, bigint][]) {
    const total = ledger.reduce((sum, [, micros]) => sum + micros, 0n);
    const byValue = (rows: [string, bigint][]) => rows.map(([kind, value]) => `${kind} ${value}`).sort();
    const money = await moneyOf(ws);
    // An account never charged or credited has no Redis balance yet.
    const redis = money.redis === null && total === 0n ? 0n : money.redis;
    expect({ ...money, redis, ledger: byValue(money.ledger as [string, bigint][]) }).toEqual({
      ledger: byValue(ledger),
      ledgerSum: total,
      postgres: total,
      redis: total,
    });
  }

  /** The events Stripe recorded about one object, oldest first. */
  async function eventsAbout(objectId: string, type?: string): Promise<Stripe.Event[]> {
    const events = await stripe()
      .events.list({ limit: 100, ...(type ? { type } : {}) })
      .autoPagingToArray({ limit: 10_000 });
    return events
      .filter((event) => (event.data.object as { id?: string }).id === objectId)
      .sort((a, b) => a.created - b.created);
  }

  async function eventAbout(objectId: string, type: string): Promise<Stripe.Event> {
    return waitFor(
      async () => (await eventsAbout(objectId, type))[0],
      (event) => event !== undefined,
      { what: `a ${type} event about ${objectId}` },
    );
  }

  async function handledEvent(eventId: string): Promise<{ type: string; outcome: string }> {
    const [row] = await waitFor(
      () => stack.stores.sql<{ type: string; outcome: string }[]>`
        select type, outcome from stripe_events where id = ${eventId}`,
      (rows) => rows.length === 1,
      { what: `event ${eventId} to be handled` },
    );
    return row;
  }

  async function eventRows(eventId: string): Promise<number> {
    const rows = await stack.stores.sql`select 1 from stripe_events where id = ${eventId}`;
    return rows.length;
  }

  /** POSTs a body to the webhook endpoint as Stripe does; `signature` null sends no header. */
  async function post(body: string, signature: string | null): Promise<JsonResponse> {
    const response = await fetch(`${stack.api.url}/webhooks/stripe`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json; charset=utf-8',
        ...(signature === null ? {} : { 'stripe-signature': signature }),
      },
      body,
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
  }

  const sign = (payload: string, secret = STACK_WEBHOOK_SECRET, timestamp?: number) =>
    stripe().webhooks.generateTestHeaderString({ payload, secret, timestamp });

  /** Delivers an event the way Stripe's servers do: pretty-printed JSON, freshly signed. */
  function deliver(event: Stripe.Event): Promise<JsonResponse> {
    const payload = JSON.stringify(event, null, 2);
    return post(payload, sign(payload));
  }

  /** The api's counter, summed over the series whose labels include `labels`. */
  async function metric(name: string, labels: Record<string, string> = {}): Promise<number> {
    const text = await (await fetch(`${stack.api.url}/metrics`)).text();
    return text
      .split('\n')
      .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
      .filter((line) => Object.entries(labels).every(([key, value]) => line.includes(`${key}="${value}"`)))
      .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
  }

  async function auditOf(ws: Workspace, action: string): Promise<any[]> {
    const response = await stack.admin.get(`${ws.path}/audit-log?limit=1000&action=${action}`);
    expect(response.status).toBe(200);
    return response.body.entries;
  }

  async function deliveriesOf(query: Record<string, string>): Promise<any[]> {
    const response = await fetch(
      `${stack.stripeServer!.url}/_test/webhook_deliveries?${new URLSearchParams(query).toString()}`,
    );
    return ((await response.json()) as { data: any[] }).data;
  }

  return {
    stripe,
    testHelper,
    authenticate,
    buy,
    purchaseOf,
    moneyOf,
    expectMoney,
    eventsAbout,
    eventAbout,
    handledEvent,
    eventRows,
    post,
    sign,
    deliver,
    metric,
    auditOf,
    deliveriesOf,
  };
}

const micros = (usd: number) => BigInt(Math.round(usd * 1_000_000));

describe('Stripe webhooks delivered by the stripe server', () => {
  const stack = new BillingStack({
    stripe: true,
    // Quick retries, so "the api was down" resolves within seconds.
    stripeServerEnv: { STRIPE_WEBHOOK_RETRY_BASE_MS: '200', STRIPE_WEBHOOK_RETRY_MAX_MS: '1000' },
  });
  const h = stackHelpers(stack);

  beforeAll(() => stack.start());
  afterAll(() => stack.stop());

  it('a purchase is credited once by the API answer and its payment_intent.succeeded, also when redelivered', async () => {
    const ws = await Workspace.create(stack);
    await saveCard(stack, ws);
    const bought = await h.buy(ws, '12.00');
    expect(bought.status).toBe(201);
    const event = await h.eventAbout(bought.body.payment_intent_id, 'payment_intent.succeeded');
    expect(await h.handledEvent(event.id)).toEqual({
      type: 'payment_intent.succeeded',
      outcome: expect.stringMatching(/credited/),
    });
    const duplicatesBefore = await h.metric('billing_stripe_webhooks_total', {
      type: 'payment_intent.succeeded',
      outcome: 'duplicate',
    });

    const redelivery = await h.testHelper(`events/${event.id}/redeliver`);
    await waitFor(
      async () => (await h.deliveriesOf({ event_id: event.id })).find((d) => d.id === redelivery.id),
      (delivery) => delivery?.status === 'delivered',
      { what: 'the redelivery' },
    );

    await h.expectMoney(ws, [['purchase', micros(12)]]);
    expect(await h.eventRows(event.id)).toBe(1);
    expect(
      await h.metric('billing_stripe_webhooks_total', {
        type: 'payment_intent.succeeded',
        outcome: 'duplicate',
      }),
    ).toBe(duplicatesBefore + 1);
  });

  it('records event types it does not act on as ignored and answers 200', async () => {
    const ws = await Workspace.create(stack);
    await saveCard(stack, ws);
    const [{ stripe_customer_id: customer }] = await stack.stores.sql<{ stripe_customer_id: string }[]>`
      select stripe_customer_id from accounts where id = ${ws.accountId}`;
    const created = await h.eventAbout(customer, 'customer.created');

    expect(await h.handledEvent(created.id)).toEqual({
      type: 'customer.created',
      outcome: 'not a type we act on',
    });
    const [delivery] = await h.deliveriesOf({ event_id: created.id });
    expect(delivery.attempts.map((attempt: any) => attempt.status_code)).toEqual([200]);
  });

  it('credits a purchase left requires_action once the card holder authenticates, by the webhook alone', async () => {
    const ws = await Workspace.create(stack, 'free');
    await saveCard(stack, ws, 'pm_card_authenticationRequired');
    const pending = await h.buy(ws, '30.00');
    expect(pending).toMatchObject({ status: 200, body: { status: 'requires_action' } });
    await h.expectMoney(ws, []);

    await h.authenticate('payment_intents', pending.body.payment_intent_id);

    const purchase = await waitFor(
      () => h.purchaseOf(ws, pending.body.id),
      (body) => body.status === 'succeeded',
      { what: 'the webhook to credit the purchase' },
    );
    expect(purchase).toMatchObject({ status: 'succeeded', failure: null, refunded: '0.000000' });
    await h.expectMoney(ws, [['purchase', micros(30)]]);
    const [credited] = await h.auditOf(ws, 'credits.purchased');
    expect(credited).toMatchObject({ actor: { type: 'system' }, target: { id: pending.body.id } });
    expect(await h.auditOf(ws, 'account.tier_changed')).toHaveLength(1);
  });

  it('saves a card whose SetupIntent succeeded even if the client never reports it, once', async () => {
    const ws = await Workspace.create(stack);
    const setupIntentId = await confirmCardSetup(stack, ws, 'pm_card_mastercard');

    const listed = await waitFor(
      async () => (await stack.admin.get(`${ws.path}/payment-methods`)).body.payment_methods,
      (cards: any[]) => cards.length === 1,
      { what: 'the webhook to save the card' },
    );
    expect(listed).toEqual([
      expect.objectContaining({ brand: 'mastercard', last4: '4444', is_default: true }),
    ]);

    // The client reporting it late finds the same card.
    const saved = await stack.admin.post(`${ws.path}/payment-methods`, { setup_intent_id: setupIntentId });
    expect(saved).toMatchObject({ status: 201, body: { id: listed[0].id } });
    expect((await stack.admin.get(`${ws.path}/payment-methods`)).body.payment_methods).toHaveLength(1);
    expect(await h.auditOf(ws, 'payment_method.added')).toHaveLength(1);
  });

  it('removes a card detached directly in Stripe from the account’s list, and it is no longer the default', async () => {
    const ws = await Workspace.create(stack);
    const first = await saveCard(stack, ws);
    const second = await saveCard(stack, ws, 'pm_card_amex');

    await h.stripe().paymentMethods.detach(first.id);

    await waitFor(
      async () => (await stack.admin.get(`${ws.path}/payment-methods`)).body.payment_methods,
      (cards: any[]) => cards.length === 1,
      { what: 'the webhook to remove the card' },
    );
    const [row] = await stack.stores.sql<{ is_default: boolean; detached_at: Date | null }[]>`
      select is_default, detached_at from payment_methods where id = ${first.id}`;
    expect(row).toEqual({ is_default: false, detached_at: expect.any(Date) });
    expect((await stack.admin.get(`${ws.path}/payment-methods`)).body.payment_methods).toEqual([
      expect.objectContaining({ id: second.id }),
    ]);
    const [removed] = await h.auditOf(ws, 'payment_method.removed');
    expect(removed).toMatchObject({ actor: { type: 'system' }, target: { id: first.id } });
  });

  it('a dispute flags the account for review, audited, and counts billing_disputes_total once', async () => {
    const ws = await Workspace.create(stack);
    await saveCard(stack, ws);
    const bought = await h.buy(ws, '40.00');
    expect(bought.status).toBe(201);
    const intent = await h.stripe().paymentIntents.retrieve(bought.body.payment_intent_id);
    const disputesBefore = await h.metric('billing_disputes_total');

    const dispute = await h.testHelper(`charges/${intent.latest_charge as string}/dispute`, {
      reason: 'fraudulent',
    });

    const event = await h.eventAbout(dispute.id, 'charge.dispute.created');
    await h.handledEvent(event.id);
    const [account] = await stack.stores.sql<{ disputed_at: Date | null }[]>`
      select disputed_at from accounts where id = ${ws.accountId}`;
    expect(account.disputed_at).toEqual(expect.any(Date));
    const audit = await h.auditOf(ws, 'account.disputed');
    expect(audit).toEqual([
      expect.objectContaining({
        actor: { type: 'system', id: null },
        before: { disputed_at: null },
        after: expect.objectContaining({
          dispute: dispute.id,
          purchase_id: bought.body.id,
          amount_cents: 4000,
        }),
      }),
    ]);
    expect(await h.metric('billing_disputes_total')).toBe(disputesBefore + 1);
    expect(stack.api.output).toContain(`DISPUTE ${dispute.id}`);

    // Redelivered: no second flag, audit row or count.
    const redelivery = await h.testHelper(`events/${event.id}/redeliver`);
    await waitFor(
      async () => (await h.deliveriesOf({ event_id: event.id })).find((d) => d.id === redelivery.id),
      (delivery) => delivery?.status === 'delivered',
    );
    expect(await h.auditOf(ws, 'account.disputed')).toHaveLength(1);
    expect(await h.metric('billing_disputes_total')).toBe(disputesBefore + 1);
    // Credits are left alone for a person to decide.
    await h.expectMoney(ws, [['purchase', micros(40)]]);
  });

  it('events sent while the api is down are delivered by Stripe’s retries once it is back, and credit once', async () => {
    const ws = await Workspace.create(stack);
    await saveCard(stack, ws, 'pm_card_authenticationRequired');
    const pending = await h.buy(ws, '25.00');
    expect(pending.body.status).toBe('requires_action');
    const paymentIntentId = pending.body.payment_intent_id;

    await stack.api.stop();
    try {
      await h.authenticate('payment_intents', paymentIntentId);
      await waitFor(
        () => h.deliveriesOf({ type: 'payment_intent.succeeded' }),
        (deliveries) =>
          deliveries.some(
            (d) => d.object_id === paymentIntentId && d.attempts.some((a: any) => a.status_code === null),
          ),
        { what: 'a failed delivery attempt while the api is down' },
      );
    } finally {
      await stack.api.start();
    }

    const purchase = await waitFor(
      () => h.purchaseOf(ws, pending.body.id),
      (body) => body.status === 'succeeded',
      { what: 'a retried delivery to credit the purchase' },
    );
    expect(purchase.status).toBe('succeeded');
    await h.expectMoney(ws, [['purchase', micros(25)]]);
    // The api commits the credit before it answers, so the purchase can read succeeded while the
    // stripe server still waits for that answer: await the delivery's own status.
    const delivery = await waitFor(
      async () =>
        (await h.deliveriesOf({ type: 'payment_intent.succeeded' })).find(
          (d) => d.object_id === paymentIntentId,
        ),
      (found) => found?.status !== 'pending',
      { what: 'the retried delivery to be answered' },
    );
    expect(delivery.status).toBe('delivered');
    expect(delivery.attempts.length).toBeGreaterThan(1);
  });
});

describe('Stripe webhooks delivered by the test, in any order and in parallel', () => {
  // No webhook URL: the stripe server records events and the test delivers them, as Stripe would.
  const stack = new BillingStack({ stripe: true, stripeServerEnv: { STRIPE_WEBHOOK_URL: '' } });
  const h = stackHelpers(stack);

  beforeAll(() => stack.start());
  afterAll(() => stack.stop());

  /** A purchase left requires_action whose PaymentIntent the card holder then authenticated. */
  async function authenticatedPurchase(amount: string, outcome: 'succeed' | 'fail' = 'succeed') {
    const ws = await Workspace.create(stack);
    await saveCard(stack, ws, 'pm_card_authenticationRequired');
    const pending = await h.buy(ws, amount);
    expect(pending.body.status).toBe('requires_action');
    await h.authenticate('payment_intents', pending.body.payment_intent_id, outcome);
    return {
      ws,
      purchaseId: pending.body.id as string,
      paymentIntentId: pending.body.payment_intent_id as string,
    };
  }

  describe('signatures', () => {
    let purchase: Awaited<ReturnType<typeof authenticatedPurchase>>;
    let event: Stripe.Event;
    let payload: string;

    beforeAll(async () => {
      purchase = await authenticatedPurchase('20.00');
      event = await h.eventAbout(purchase.paymentIntentId, 'payment_intent.succeeded');
      payload = JSON.stringify(event, null, 2);
    });

    async function expectRefused(response: JsonResponse) {
      expect({ status: response.status, code: response.body?.error?.code }).toEqual({
        status: 400,
        code: 'invalid_signature',
      });
      expect(await h.eventRows(event.id)).toBe(0);
      expect((await h.purchaseOf(purchase.ws, purchase.purchaseId)).status).toBe('requires_action');
      await h.expectMoney(purchase.ws, []);
    }

    it('refuses a delivery without a Stripe-Signature header with 400 and records nothing', async () => {
      await expectRefused(await h.post(payload, null));
    });

    it('refuses a signature made with another secret', async () => {
      await expectRefused(await h.post(payload, h.sign(payload, 'whsec_someone_else_entirely')));
    });

    it('refuses a malformed header', async () => {
      await expectRefused(await h.post(payload, 'not a signature'));
    });

    it('refuses a body changed after signing, even by one character', async () => {
      const header = h.sign(payload);
      await expectRefused(await h.post(payload.replace('"amount": 2000', '"amount": 2001'), header));
      await expectRefused(await h.post(`${payload} `, header));
    });

    it('refuses a signature older than the tolerance (a replayed capture)', async () => {
      await expectRefused(
        await h.post(payload, h.sign(payload, STACK_WEBHOOK_SECRET, Math.floor(Date.now() / 1000) - 600)),
      );
    });

    it('counts refusals as billing_stripe_webhooks_total{outcome="invalid_signature"}', async () => {
      expect(
        await h.metric('billing_stripe_webhooks_total', { outcome: 'invalid_signature' }),
      ).toBeGreaterThanOrEqual(6);
    });

    it('then accepts the genuine delivery of the same event and credits the purchase', async () => {
      const response = await h.post(payload, h.sign(payload));

      expect(response).toMatchObject({ status: 200, body: { received: true, outcome: 'handled' } });
      expect((await h.purchaseOf(purchase.ws, purchase.purchaseId)).status).toBe('succeeded');
      await h.expectMoney(purchase.ws, [['purchase', micros(20)]]);
    });
  });

  it('payment_intent.succeeded delivered 4 times in parallel with the API answer credits exactly once', async () => {
    const runs = await Promise.all(
      [1, 2, 3].map(async () => {
        const ws = await Workspace.create(stack);
        await saveCard(stack, ws);
        const answer = h.buy(ws, '15.00');
        // As soon as Stripe has the event (the API answer is still settling), deliver it 4 times at once.
        const event = await waitFor(
          async () =>
            (await h.stripe().events.list({ type: 'payment_intent.succeeded', limit: 100 })).data.find(
              (candidate) =>
                (candidate.data.object as Stripe.PaymentIntent).metadata?.account_id === ws.accountId,
            ),
          (found) => found !== undefined,
          { intervalMs: 5, what: 'the payment_intent.succeeded event' },
        );
        const deliveries = await Promise.all([1, 2, 3, 4].map(() => h.deliver(event!)));
        return { ws, event: event!, answer: await answer, deliveries };
      }),
    );

    for (const { ws, event, answer, deliveries } of runs) {
      expect(answer).toMatchObject({ status: 201, body: { status: 'succeeded', balance: '15.000000' } });
      expect(deliveries.map((response) => response.status)).toEqual([200, 200, 200, 200]);
      await h.expectMoney(ws, [['purchase', micros(15)]]);
      expect(await h.eventRows(event.id)).toBe(1);
      expect(await h.auditOf(ws, 'credits.purchased')).toHaveLength(1);
    }
  });

  it('payment_intent.payment_failed marks a pending purchase failed with Stripe’s code', async () => {
    const { ws, purchaseId, paymentIntentId } = await authenticatedPurchase('11.00', 'fail');
    const failed = await h.eventAbout(paymentIntentId, 'payment_intent.payment_failed');

    expect((await h.deliver(failed)).status).toBe(200);

    expect(await h.purchaseOf(ws, purchaseId)).toMatchObject({
      status: 'failed',
      failure: { code: 'payment_intent_authentication_failure' },
    });
    await h.expectMoney(ws, []);
  });

  describe('a PaymentIntent that failed once, then succeeded with another card', () => {
    async function failedThenSucceeded() {
      const purchase = await authenticatedPurchase('25.00', 'fail');
      // The card holder tries again with another card, on session, as Stripe.js would.
      const retried = await h.stripe().paymentIntents.confirm(purchase.paymentIntentId, {
        payment_method: 'pm_card_visa',
      });
      expect(retried.status).toBe('succeeded');
      return {
        ...purchase,
        failed: await h.eventAbout(purchase.paymentIntentId, 'payment_intent.payment_failed'),
        succeeded: await h.eventAbout(purchase.paymentIntentId, 'payment_intent.succeeded'),
      };
    }

    it('payment_failed arriving after succeeded does not un-succeed the purchase', async () => {
      const { ws, purchaseId, failed, succeeded } = await failedThenSucceeded();

      expect((await h.deliver(succeeded)).status).toBe(200);
      expect((await h.deliver(failed)).status).toBe(200);

      expect(await h.purchaseOf(ws, purchaseId)).toMatchObject({ status: 'succeeded', failure: null });
      await h.expectMoney(ws, [['purchase', micros(25)]]);
      expect(await h.handledEvent(failed.id)).toEqual({
        type: 'payment_intent.payment_failed',
        outcome: expect.stringMatching(/already credited/),
      });
    });

    it('the purchase, its invoice and a replay of its Idempotency-Key name the card that paid', async () => {
      const ws = await Workspace.create(stack);
      await saveCard(stack, ws, 'pm_card_authenticationRequired');
      const key = randomUUID();
      const pending = await h.buy(ws, '25.00', key);
      const paymentIntentId = pending.body.payment_intent_id as string;
      await h.authenticate('payment_intents', paymentIntentId, 'fail');
      // A card typed into Stripe.js, never saved with us.
      const retried = await h
        .stripe()
        .paymentIntents.confirm(paymentIntentId, { payment_method: 'pm_card_visa' });

      expect((await h.deliver(await h.eventAbout(paymentIntentId, 'payment_intent.succeeded'))).status).toBe(
        200,
      );

      const paidWith = { id: retried.payment_method, brand: 'visa', last4: '4242' };
      expect(await h.purchaseOf(ws, pending.body.id)).toMatchObject({
        status: 'succeeded',
        payment_method: paidWith,
      });
      const invoices = await stack.admin.get(`${ws.path}/invoices?kind=purchase`);
      expect(invoices.body.invoices).toMatchObject([{ payment_method: { brand: 'visa', last4: '4242' } }]);
      // The client retrying its own request (same card) gets the paid purchase, not a 409.
      const replay = await h.buy(ws, '25.00', key);
      expect(replay).toMatchObject({ status: 201, body: { id: pending.body.id, payment_method: paidWith } });
      await h.expectMoney(ws, [['purchase', micros(25)]]);
    });

    it('another saved card of the account is named as saved', async () => {
      const ws = await Workspace.create(stack);
      await saveCard(stack, ws, 'pm_card_authenticationRequired');
      const mastercard = await saveCard(stack, ws, 'pm_card_mastercard');
      const pending = await h.buy(ws, '25.00');
      const purchaseId = pending.body.id as string;
      const paymentIntentId = pending.body.payment_intent_id as string;
      await h.authenticate('payment_intents', paymentIntentId, 'fail');
      await h.stripe().paymentIntents.confirm(paymentIntentId, { payment_method: mastercard.id });

      expect((await h.deliver(await h.eventAbout(paymentIntentId, 'payment_intent.succeeded'))).status).toBe(
        200,
      );

      expect((await h.purchaseOf(ws, purchaseId)).payment_method).toEqual({
        id: mastercard.id,
        brand: 'mastercard',
        last4: '4444',
      });
      const [invoice] = await stack.stores.sql<{ card_brand: string; card_last4: string }[]>`
        select card_brand, card_last4 from invoices where purchase_id = ${purchaseId}`;
      expect(invoice).toEqual({ card_brand: 'mastercard', card_last4: '4444' });
    });

    it('in creation order, the stale payment_failed already credits from the PaymentIntent as it is now', async () => {
      const { ws, purchaseId, failed, succeeded } = await failedThenSucceeded();

      expect((await h.deliver(failed)).status).toBe(200);
      expect((await h.purchaseOf(ws, purchaseId)).status).toBe('succeeded');
      expect((await h.deliver(succeeded)).status).toBe(200);

      await h.expectMoney(ws, [['purchase', micros(25)]]);
      expect(await h.auditOf(ws, 'credits.purchased')).toHaveLength(1);
    });
  });

  describe('a purchase retried with its Idempotency-Key after Stripe forgot the create’s key (24 h)', () => {
    /** What Stripe does 24 hours later, now (a stripe-server test helper). */
    const forgetCreateKey = (purchaseId: string) =>
      h.testHelper('idempotency_keys/expire', { key: purchaseIntentKey(purchaseId) });

    async function paymentIntentsOf(ws: Workspace): Promise<string[]> {
      const [{ stripe_customer_id: customer }] = await stack.stores.sql<{ stripe_customer_id: string }[]>`
        select stripe_customer_id from accounts where id = ${ws.accountId}`;
      return (await h.stripe().paymentIntents.list({ customer, limit: 100 })).data.map((intent) => intent.id);
    }

    async function pendingPurchase() {
      const ws = await Workspace.create(stack);
      await saveCard(stack, ws, 'pm_card_authenticationRequired');
      const key = randomUUID();
      const pending = await h.buy(ws, '25.00', key);
      expect(pending.body.status).toBe('requires_action');
      return {
        ws,
        key,
        purchaseId: pending.body.id as string,
        paymentIntentId: pending.body.payment_intent_id,
      };
    }

    it('whose 3-D Secure failed answers 402 from its own PaymentIntent and creates no other', async () => {
      const { ws, key, purchaseId, paymentIntentId } = await pendingPurchase();
      await h.authenticate('payment_intents', paymentIntentId, 'fail');
      expect(await forgetCreateKey(purchaseId)).toMatchObject({ expired: true });

      const sut = await h.buy(ws, '25.00', key);

      expect({ status: sut.status, code: sut.body.error?.code }).toEqual({
        status: 402,
        code: 'payment_intent_authentication_failure',
      });
      expect(await h.purchaseOf(ws, purchaseId)).toMatchObject({
        status: 'failed',
        payment_intent_id: paymentIntentId,
      });
      expect(await paymentIntentsOf(ws)).toEqual([paymentIntentId]);
      await h.expectMoney(ws, []);
    });

    it('whose PaymentIntent was never recorded (stopped after Stripe answered) finds it by its metadata', async () => {
      const { ws, key, purchaseId, paymentIntentId } = await pendingPurchase();
      // What a process stopped between Stripe's answer and recording it leaves behind.
      await stack.stores.sql`
        update credit_purchases set status = 'pending', payment_intent_id = null, failure_code = null
        where id = ${purchaseId}`;
      await forgetCreateKey(purchaseId);

      const sut = await h.buy(ws, '25.00', key);

      expect(sut).toMatchObject({
        status: 200,
        body: { id: purchaseId, status: 'requires_action', payment_intent_id: paymentIntentId },
      });
      expect(await paymentIntentsOf(ws)).toEqual([paymentIntentId]);
      await h.authenticate('payment_intents', paymentIntentId);
      expect((await h.deliver(await h.eventAbout(paymentIntentId, 'payment_intent.succeeded'))).status).toBe(
        200,
      );
      await h.expectMoney(ws, [['purchase', micros(25)]]);
    });

    it('whose card was changed in Stripe without confirming confirms its own PaymentIntent again, once', async () => {
      const { ws, key, purchaseId, paymentIntentId } = await pendingPurchase();
      // Taken to another card in Stripe without confirming: requires_confirmation, no failed attempt.
      await h.stripe().paymentIntents.update(paymentIntentId, { payment_method: 'pm_card_mastercard' });
      await forgetCreateKey(purchaseId);

      const sut = await h.buy(ws, '25.00', key);

      expect(sut).toMatchObject({
        status: 200,
        body: { status: 'requires_action', payment_intent_id: paymentIntentId },
      });
      // Confirmed with the card the purchase chose, under a key stored before the call (I5).
      const actions = await h.eventsAbout(paymentIntentId, 'payment_intent.requires_action');
      expect(actions.map((event) => event.request?.idempotency_key).sort()).toEqual([
        purchaseIntentKey(purchaseId),
        `purchase-${purchaseId}-confirm-1`,
      ]);
      await h.authenticate('payment_intents', paymentIntentId);
      expect((await h.deliver(await h.eventAbout(paymentIntentId, 'payment_intent.succeeded'))).status).toBe(
        200,
      );
      expect(await h.purchaseOf(ws, purchaseId)).toMatchObject({
        status: 'succeeded',
        payment_method: { brand: 'visa', last4: '3184' },
      });
      expect(await paymentIntentsOf(ws)).toEqual([paymentIntentId]);
      await h.expectMoney(ws, [['purchase', micros(25)]]);
    });
  });

  it('charge.refunded arriving before payment_intent.succeeded credits the purchase first, then debits the refund', async () => {
    const { ws, purchaseId, paymentIntentId } = await authenticatedPurchase('30.00');
    const refund = await h.stripe().refunds.create({ payment_intent: paymentIntentId, amount: 1000 });
    const refunded = await h.eventAbout(refund.charge as string, 'charge.refunded');
    const succeeded = await h.eventAbout(paymentIntentId, 'payment_intent.succeeded');

    expect((await h.deliver(refunded)).status).toBe(200);
    expect((await h.deliver(succeeded)).status).toBe(200);
    expect((await h.deliver(refunded)).status).toBe(200);

    expect(await h.purchaseOf(ws, purchaseId)).toMatchObject({ status: 'succeeded', refunded: '10.000000' });
    await h.expectMoney(ws, [
      ['purchase', micros(30)],
      ['refund', -micros(10)],
    ]);
  });

  it('a handler error answers 500 so Stripe retries, and records nothing of the event', async () => {
    const event = {
      id: `evt_${randomUUID().replace(/-/g, '')}`,
      object: 'event',
      type: 'payment_intent.succeeded',
      created: Math.floor(Date.now() / 1000),
      livemode: false,
      pending_webhooks: 1,
      api_version: null,
      request: { id: null, idempotency_key: null },
      // Re-reading it from Stripe fails: there is no such PaymentIntent.
      data: { object: { id: 'pi_does_not_exist', object: 'payment_intent' } },
    };
    const failedBefore = await h.metric('billing_stripe_webhooks_total', { outcome: 'failed' });
    const payload = JSON.stringify(event);

    const response = await h.post(payload, h.sign(payload));

    expect(response.status).toBe(500);
    expect(await h.eventRows(event.id)).toBe(0);
    expect(await h.metric('billing_stripe_webhooks_total', { outcome: 'failed' })).toBe(failedBefore + 1);
  });
});

describe('Stripe webhooks with STRIPE_WEBHOOK_DUPLICATE_DELIVERY (every event delivered twice)', () => {
  const stack = new BillingStack({
    stripe: true,
    stripeServerEnv: { STRIPE_WEBHOOK_DUPLICATE_DELIVERY: 'true' },
  });
  const h = stackHelpers(stack);

  beforeAll(() => stack.start());
  afterAll(() => stack.stop());

  it('cards, purchases, an authenticated purchase and a Stripe refund all take effect exactly once', async () => {
    const ws = await Workspace.create(stack);
    await confirmCardSetup(stack, ws);
    await waitFor(
      async () => (await stack.admin.get(`${ws.path}/payment-methods`)).body.payment_methods,
      (cards: any[]) => cards.length === 1,
      { what: 'the webhook to save the card' },
    );
    const paid = await h.buy(ws, '10.00');
    expect(paid.status).toBe(201);
    await saveCard(stack, ws, 'pm_card_authenticationRequired');
    const [, threeDs] = (await stack.admin.get(`${ws.path}/payment-methods`)).body.payment_methods;
    const pending = await stack.admin.post(
      `${ws.path}/purchases`,
      { amount: '20.00', payment_method_id: threeDs.id },
      { 'idempotency-key': randomUUID() },
    );
    expect(pending.body.status).toBe('requires_action');
    await h.authenticate('payment_intents', pending.body.payment_intent_id);
    await h.stripe().refunds.create({ payment_intent: paid.body.payment_intent_id, amount: 400 });

    const deliveries = await waitFor(
      () => h.deliveriesOf({}),
      (all) => all.length > 0 && all.every((delivery) => delivery.status !== 'pending'),
      { what: 'every delivery to finish' },
    );
    expect(deliveries.filter((delivery) => delivery.status !== 'delivered')).toEqual([]);
    const eventIds = new Set(deliveries.map((delivery) => delivery.event_id));
    expect(deliveries.filter((delivery) => delivery.redelivery)).toHaveLength(eventIds.size);

    await h.expectMoney(ws, [
      ['purchase', micros(10)],
      ['refund', -micros(4)],
      ['purchase', micros(20)],
    ]);
    expect((await h.purchaseOf(ws, pending.body.id)).status).toBe('succeeded');
    expect((await h.purchaseOf(ws, paid.body.id)).refunded).toBe('4.000000');
    expect(await h.auditOf(ws, 'payment_method.added')).toHaveLength(2);
    expect(await h.auditOf(ws, 'credits.purchased')).toHaveLength(2);
    expect(await h.auditOf(ws, 'credits.refunded')).toHaveLength(1);
    const [{ n }] = await stack.stores.sql<{ n: bigint }[]>`
      select count(*)::bigint as n from stripe_events where id = any(${[...eventIds]}::text[])`;
    expect(Number(n)).toBe(eventIds.size);
  });
});
