import { randomUUID } from 'node:crypto';
import Stripe from 'stripe';
import { ApiClient, JsonResponse } from '../support/api-client';
import { BillingStack } from '../support/billing-stack';
import { saveCard } from '../support/cards';
import { TEST_GATEWAY_TOKEN } from '../support/test-stores';
import { waitFor } from '../support/wait-for';
import { Workspace } from '../support/workspace';

const PAID_MODEL = 'openai/gpt-4o-mini';
const FREE_MODEL = 'meta-llama/llama-3.1-8b-instruct:free';

/**
 * Refunds of card purchases (issue "Payments" item 6; I2, I4): made by an admin through the api
 * or directly in Stripe, each Stripe refund debits its credits exactly once (ledger row
 * refund:<re_id>), with the purchase's refunded total and an audit row; the Redis balance follows.
 */
describe('refunds of card purchases', () => {
  // Free-model limits: 50 requests a day, 1000 once $10 was bought; no per-minute limit in the way.
  const stack = new BillingStack({ stripe: true, env: { FREE_MODEL_REQUESTS_PER_MINUTE: '100000' } });
  let stripe: Stripe;

  const micros = (usd: number) => BigInt(Math.round(usd * 1_000_000));

  function expectError(response: JsonResponse, status: number, code: string): void {
    expect({ status: response.status, code: response.body?.error?.code }).toEqual({ status, code });
  }

  /** A workspace with a card and one paid purchase. */
  async function purchased(amount: string) {
    const ws = await Workspace.create(stack);
    await saveCard(stack, ws);
    const bought = await stack.admin.post(
      `${ws.path}/purchases`,
      { amount },
      { 'idempotency-key': randomUUID() },
    );
    expect(bought.status).toBe(201);
    return {
      ws,
      purchaseId: bought.body.id as string,
      paymentIntentId: bought.body.payment_intent_id as string,
    };
  }

  function refund(
    purchaseId: string,
    body: Record<string, unknown> = {},
    key: string | null = randomUUID(),
    client: ApiClient = stack.admin,
  ) {
    return client.post(
      `/v1/admin/purchases/${purchaseId}/refunds`,
      body,
      key === null ? {} : { 'idempotency-key': key },
    );
  }

  async function purchaseOf(ws: Workspace, purchaseId: string) {
    const response = await stack.admin.get(`${ws.path}/purchases/${purchaseId}`);
    expect(response.status).toBe(200);
    return response.body;
  }

  /** Ledger rows in order, and Postgres, ledger sum and Redis balances, which must all agree. */
  async function expectMoney(ws: Workspace, ledger: [string, bigint][]) {
    const rows = await stack.stores.sql<{ kind: string; amount_micros: bigint }[]>`
      select kind, amount_micros from ledger_entries where account_id = ${ws.accountId} order by id`;
    const [{ balance }] = await stack.stores.sql<{ balance: bigint }[]>`
      select sum(balance_micros)::bigint as balance from account_balances where account_id = ${ws.accountId}`;
    const total = ledger.reduce((sum, [, value]) => sum + value, 0n);
    expect({
      ledger: rows.map((row) => [row.kind, row.amount_micros]),
      postgres: balance,
      redis: await stack.stores.redisBalance(ws.accountId),
    }).toEqual({ ledger, postgres: total, redis: total });
  }

  async function refundRows(purchaseId: string): Promise<string[]> {
    const rows = await stack.stores.sql<{ idempotency_key: string }[]>`
      select idempotency_key from ledger_entries where kind = 'refund' and source->>'purchase_id' = ${purchaseId} order by id`;
    return rows.map((row) => row.idempotency_key);
  }

  async function auditOf(ws: Workspace, action: string): Promise<any[]> {
    const response = await stack.admin.get(`${ws.path}/audit-log?limit=1000&action=${action}`);
    expect(response.status).toBe(200);
    return response.body.entries;
  }

  async function stripeRefundsOf(paymentIntentId: string) {
    return (await stripe.refunds.list({ payment_intent: paymentIntentId, limit: 100 })).data;
  }

  /** Waits until Stripe's charge.refunded events for this charge have all been handled by the api. */
  async function refundEventsHandled(paymentIntentId: string, count: number): Promise<string[]> {
    const intent = await stripe.paymentIntents.retrieve(paymentIntentId);
    const events = await waitFor(
      async () =>
        (await stripe.events.list({ type: 'charge.refunded', limit: 100 })).data.filter(
          (event) => (event.data.object as Stripe.Charge).id === intent.latest_charge,
        ),
      (found) => found.length === count,
      { what: `${count} charge.refunded events` },
    );
    const ids = events.map((event) => event.id);
    await waitFor(
      () => stack.stores.sql`select 1 from stripe_events where id = any(${ids}::text[])`,
      (rows) => rows.length === count,
      { what: 'the charge.refunded events to be handled' },
    );
    return ids;
  }

  beforeAll(async () => {
    await stack.start();
    stripe = stack.stripeClient();
    await stack.setPrice(PAID_MODEL, '10.00', '10.00');
    await stack.setPrice(FREE_MODEL, '0', '0');
  });

  afterAll(() => stack.stop());

  it('refunds part of a purchase, then the rest, debiting each once with the refunded total and audit rows', async () => {
    const { ws, purchaseId, paymentIntentId } = await purchased('20.00');

    const partial = await refund(purchaseId, { amount: '5.00', reason: 'requested_by_customer' });
    const rest = await refund(purchaseId);

    expect(partial).toMatchObject({
      status: 201,
      body: {
        id: expect.stringMatching(/^re_/),
        purchase_id: purchaseId,
        amount: '5.000000',
        currency: 'USD',
        status: 'succeeded',
        reason: 'requested_by_customer',
        balance: '15.000000',
      },
    });
    expect(rest).toMatchObject({
      status: 201,
      body: { amount: '15.000000', reason: null, balance: '0.000000' },
    });
    expect(await purchaseOf(ws, purchaseId)).toMatchObject({ status: 'succeeded', refunded: '20.000000' });
    const refunds = await stripeRefundsOf(paymentIntentId);
    expect(refunds.map((r) => [r.id, r.amount, r.status, r.reason]).sort()).toEqual(
      [
        [partial.body.id, 500, 'succeeded', 'requested_by_customer'],
        [rest.body.id, 1500, 'succeeded', null],
      ].sort(),
    );

    // Stripe's charge.refunded for each refund changes nothing more.
    await refundEventsHandled(paymentIntentId, 2);
    expect(await refundRows(purchaseId)).toEqual([`refund:${partial.body.id}`, `refund:${rest.body.id}`]);
    await expectMoney(ws, [
      ['purchase', micros(20)],
      ['refund', -micros(5)],
      ['refund', -micros(15)],
    ]);
    const audit = await auditOf(ws, 'credits.refunded');
    expect(
      audit.map((entry) => [entry.target.id, entry.after.amount_micros, entry.after.refunded_micros]).sort(),
    ).toEqual(
      [
        [purchaseId, '15000000', '20000000'],
        [purchaseId, '5000000', '5000000'],
      ].sort(),
    );
  });

  it('answers 422 refund_exceeds_remaining for more than is left, and refunds nothing for it', async () => {
    const { ws, purchaseId, paymentIntentId } = await purchased('10.00');

    const tooMuch = await refund(purchaseId, { amount: '10.01' });
    const six = await refund(purchaseId, { amount: '6.00' });
    const fiveOfFour = await refund(purchaseId, { amount: '5.00' });
    const rest = await refund(purchaseId);
    const nothingLeft = await refund(purchaseId);

    expectError(tooMuch, 422, 'refund_exceeds_remaining');
    expect(tooMuch.body.remaining).toBe('10.000000');
    expect(six.status).toBe(201);
    expectError(fiveOfFour, 422, 'refund_exceeds_remaining');
    expect(fiveOfFour.body.remaining).toBe('4.000000');
    expect(rest).toMatchObject({ status: 201, body: { amount: '4.000000', balance: '0.000000' } });
    expectError(nothingLeft, 422, 'refund_exceeds_remaining');
    expect(nothingLeft.body.remaining).toBe('0.000000');
    expect(await stripeRefundsOf(paymentIntentId)).toHaveLength(2);
    await expectMoney(ws, [
      ['purchase', micros(10)],
      ['refund', -micros(6)],
      ['refund', -micros(4)],
    ]);
  });

  it('two refunds at once are made one after the other: the one that does not fit is told what is left', async () => {
    const { ws, purchaseId, paymentIntentId } = await purchased('10.00');

    const both = await Promise.all([
      refund(purchaseId, { amount: '6.00' }),
      refund(purchaseId, { amount: '6.00' }),
    ]);

    expect(both.map((response) => response.status).sort()).toEqual([201, 422]);
    const refused = both.find((response) => response.status === 422)!;
    expectError(refused, 422, 'refund_exceeds_remaining');
    expect(refused.body.remaining).toBe('4.000000');
    expect(await stripeRefundsOf(paymentIntentId)).toHaveLength(1);
    await expectMoney(ws, [
      ['purchase', micros(10)],
      ['refund', -micros(6)],
    ]);
  });

  describe('the Idempotency-Key', () => {
    it('sent again returns the same refund, refunded and debited once, also when sent 5 times at once', async () => {
      const { ws, purchaseId, paymentIntentId } = await purchased('10.00');
      const key = randomUUID();

      const first = await refund(purchaseId, { amount: '3.00' }, key);
      const again = await refund(purchaseId, { amount: '3.00' }, key);
      const parallel = await Promise.all(
        Array.from({ length: 5 }, () => refund(purchaseId, { amount: '3.00' }, key)),
      );

      expect(first.status).toBe(201);
      for (const answer of [again, ...parallel])
        expect({ status: answer.status, body: answer.body }).toEqual({ status: 201, body: first.body });
      expect(await stripeRefundsOf(paymentIntentId)).toHaveLength(1);
      expect(await refundRows(purchaseId)).toEqual([`refund:${first.body.id}`]);
      await expectMoney(ws, [
        ['purchase', micros(10)],
        ['refund', -micros(3)],
      ]);
    });

    it('5 first requests at once with one key make one refund', async () => {
      const { ws, purchaseId, paymentIntentId } = await purchased('10.00');
      const key = randomUUID();

      const answers = await Promise.all(Array.from({ length: 5 }, () => refund(purchaseId, {}, key)));

      expect(answers.map((answer) => answer.status)).toEqual([201, 201, 201, 201, 201]);
      expect(new Set(answers.map((answer) => answer.body.id)).size).toBe(1);
      expect(await stripeRefundsOf(paymentIntentId)).toHaveLength(1);
      await expectMoney(ws, [
        ['purchase', micros(10)],
        ['refund', -micros(10)],
      ]);
    });

    it('for "the rest" is replayed after the purchase is fully refunded, not refused', async () => {
      const { purchaseId } = await purchased('10.00');
      const key = randomUUID();

      const first = await refund(purchaseId, {}, key);
      const again = await refund(purchaseId, {}, key);

      expect(first).toMatchObject({ status: 201, body: { amount: '10.000000' } });
      expect(again).toEqual(expect.objectContaining({ status: 201, body: first.body }));
    });

    it('reused with another amount or reason answers 409 idempotency_key_reused and refunds nothing more', async () => {
      const { ws, purchaseId, paymentIntentId } = await purchased('10.00');
      const key = randomUUID();
      expect((await refund(purchaseId, { amount: '2.00', reason: 'duplicate' }, key)).status).toBe(201);

      expectError(
        await refund(purchaseId, { amount: '2.50', reason: 'duplicate' }, key),
        409,
        'idempotency_key_reused',
      );
      expectError(await refund(purchaseId, { amount: '2.00' }, key), 409, 'idempotency_key_reused');
      expectError(await refund(purchaseId, { reason: 'duplicate' }, key), 409, 'idempotency_key_reused');

      expect(await stripeRefundsOf(paymentIntentId)).toHaveLength(1);
      await expectMoney(ws, [
        ['purchase', micros(10)],
        ['refund', -micros(2)],
      ]);
    });

    it('is required: without it the answer is 400 idempotency_key_required', async () => {
      const { purchaseId, paymentIntentId } = await purchased('10.00');

      expectError(await refund(purchaseId, { amount: '1.00' }, null), 400, 'idempotency_key_required');
      expect(await stripeRefundsOf(paymentIntentId)).toHaveLength(0);
    });

    it('a key sent but malformed (a space, over 255 characters) is 400 invalid_idempotency_key, refunding nothing', async () => {
      const { ws, purchaseId, paymentIntentId } = await purchased('10.00');

      expectError(await refund(purchaseId, { amount: '1.00' }, 'refund 1'), 400, 'invalid_idempotency_key');
      expectError(
        await refund(purchaseId, { amount: '1.00' }, 'k'.repeat(256)),
        400,
        'invalid_idempotency_key',
      );
      expect(await stripeRefundsOf(paymentIntentId)).toHaveLength(0);
      expect(await refundRows(purchaseId)).toEqual([]);
      await expectMoney(ws, [['purchase', micros(10)]]);
    });
  });

  it('a refund made directly in Stripe is debited once through charge.refunded, and counts toward what is left', async () => {
    const { ws, purchaseId, paymentIntentId } = await purchased('25.00');

    const inStripe = await stripe.refunds.create({ payment_intent: paymentIntentId, amount: 300 });

    await waitFor(
      () => refundRows(purchaseId),
      (rows) => rows.length === 1,
      {
        what: 'the webhook to debit the refund',
      },
    );
    const [eventId] = await refundEventsHandled(paymentIntentId, 1);
    expect(await refundRows(purchaseId)).toEqual([`refund:${inStripe.id}`]);
    expect(await purchaseOf(ws, purchaseId)).toMatchObject({ refunded: '3.000000' });
    const [audit] = await auditOf(ws, 'credits.refunded');
    expect(audit).toMatchObject({
      actor: { type: 'system' },
      after: { refund: inStripe.id, amount_micros: '3000000' },
    });

    // Delivered again: nothing more.
    const redelivered = await fetch(`${stack.stripeServer!.url}/_test/events/${eventId}/redeliver`, {
      method: 'POST',
    });
    const delivery = (await redelivered.json()) as { id: string };
    await waitFor(
      async () => {
        const response = await fetch(
          `${stack.stripeServer!.url}/_test/webhook_deliveries?event_id=${eventId}`,
        );
        return ((await response.json()) as { data: { id: string; status: string }[] }).data;
      },
      (deliveries) => deliveries.some((d) => d.id === delivery.id && d.status === 'delivered'),
      { what: 'the redelivery' },
    );
    expect(await refundRows(purchaseId)).toHaveLength(1);

    // The admin's refund of "the rest" knows about it.
    const rest = await refund(purchaseId);
    expect(rest).toMatchObject({ status: 201, body: { amount: '22.000000', balance: '0.000000' } });
    expectError(await refund(purchaseId, { amount: '0.01' }), 422, 'refund_exceeds_remaining');
    await expectMoney(ws, [
      ['purchase', micros(25)],
      ['refund', -micros(3)],
      ['refund', -micros(22)],
    ]);
  });

  it('a debited refund that then fails is credited back once, and can be refunded again', async () => {
    const { ws, purchaseId, paymentIntentId } = await purchased('20.00');
    const made = await refund(purchaseId, { amount: '5.00' });
    expect(made).toMatchObject({ status: 201, body: { balance: '15.000000' } });
    const refundId = made.body.id as string;

    // The card was closed: the network returns the refund, Stripe keeps the money.
    const failed = await fetch(`${stack.stripeServer!.url}/_test/refunds/${refundId}/fail`, {
      method: 'POST',
    });
    expect(failed.status).toBe(200);
    await waitFor(
      () => refundRows(purchaseId),
      (rows) => rows.length === 2,
      { what: 'the failed refund to be credited back' },
    );
    expect(await refundRows(purchaseId)).toEqual([`refund:${refundId}`, `refund_reversal:${refundId}`]);
    await expectMoney(ws, [
      ['purchase', micros(20)],
      ['refund', -micros(5)],
      ['refund', micros(5)],
    ]);
    expect(await purchaseOf(ws, purchaseId)).toMatchObject({ refunded: '0.000000' });
    const [audit] = await auditOf(ws, 'credits.refund_reversed');
    expect(audit).toMatchObject({
      actor: { type: 'system' },
      target: { type: 'purchase', id: purchaseId },
      after: { refund: refundId, amount_micros: '5000000', failure_reason: 'expired_or_canceled_card' },
    });

    // Both events about the failure, delivered again: nothing more.
    const events = (await stripe.events.list({ limit: 100 })).data.filter(
      (event) =>
        (event.type === 'refund.failed' || event.type === 'refund.updated') &&
        (event.data.object as Stripe.Refund).id === refundId,
    );
    expect(events.map((event) => event.type).sort()).toEqual(['refund.failed', 'refund.updated']);
    for (const event of events) {
      await fetch(`${stack.stripeServer!.url}/_test/events/${event.id}/redeliver`, { method: 'POST' });
    }
    await waitFor(
      async () => {
        const response = await fetch(`${stack.stripeServer!.url}/_test/webhook_deliveries`);
        const { data } = (await response.json()) as { data: { event_id: string; status: string }[] };
        return data.filter((d) => events.some((event) => event.id === d.event_id));
      },
      (deliveries) => deliveries.length === 4 && deliveries.every((d) => d.status === 'delivered'),
      { what: 'the redeliveries' },
    );
    expect(await refundRows(purchaseId)).toHaveLength(2);

    // The money was never returned, so all of the purchase can be refunded again.
    const again = await refund(purchaseId);
    expect(again).toMatchObject({ status: 201, body: { amount: '20.000000', balance: '0.000000' } });
    await expectMoney(ws, [
      ['purchase', micros(20)],
      ['refund', -micros(5)],
      ['refund', micros(5)],
      ['refund', -micros(20)],
    ]);
    expect(await stripeRefundsOf(paymentIntentId)).toHaveLength(2);
  });

  it('a refund takes its credits off the credits bought, and the raised free-model daily limit with them; a failed refund gives them back', async () => {
    const { ws, purchaseId } = await purchased('10.00');
    const authorize = () =>
      stack.gateway.post('/v1/authorize', { account_id: ws.accountId, model: FREE_MODEL });
    const bought = async () => {
      const [row] = await stack.stores.sql<{ purchased_micros: bigint }[]>`
        select purchased_micros from accounts where id = ${ws.accountId}`;
      return row.purchased_micros;
    };
    // Past the 50 a day of an account that bought less than $10.
    for (let i = 0; i < 51; i += 17) {
      const answers = await Promise.all(Array.from({ length: 17 }, authorize));
      expect(answers.map((answer) => answer.status)).toEqual(Array(17).fill(200));
    }

    const made = await refund(purchaseId, { amount: '0.01' });

    expect(made.status).toBe(201);
    expect(await bought()).toBe(micros(9.99));
    // At most a second: the change is announced to every process's catalog cache.
    const limited = await waitFor(authorize, (answer) => answer.status === 429, {
      timeoutMs: 1000,
      intervalMs: 20,
      what: 'the daily limit of an account that bought less than $10',
    });
    expect(limited.body).toMatchObject({ reason: 'rate_limited', limit: 'per_day' });

    const failed = await fetch(`${stack.stripeServer!.url}/_test/refunds/${made.body.id}/fail`, {
      method: 'POST',
    });
    expect(failed.status).toBe(200);
    await waitFor(bought, (value) => value === micros(10), { what: 'the failed refund to be credited back' });
    await waitFor(authorize, (answer) => answer.status === 200, {
      timeoutMs: 1000,
      intervalMs: 20,
      what: 'the raised daily limit again',
    });
  });

  it('a refund made in Stripe that fails at once takes nothing, whichever of its events is handled first', async () => {
    const { ws, purchaseId, paymentIntentId } = await purchased('20.00');
    const inStripe = await stripe.refunds.create({ payment_intent: paymentIntentId, amount: 700 });
    const failed = await fetch(`${stack.stripeServer!.url}/_test/refunds/${inStripe.id}/fail`, {
      method: 'POST',
    });
    expect(failed.status).toBe(200);
    // charge.refunded, refund.updated and refund.failed, handled in any order, each reading Stripe now.
    const intent = await stripe.paymentIntents.retrieve(paymentIntentId);
    const eventIds = (await stripe.events.list({ limit: 100 })).data
      .filter((event) => {
        const object = event.data.object as { id: string };
        return (
          (event.type === 'charge.refunded' && object.id === intent.latest_charge) ||
          ((event.type === 'refund.updated' || event.type === 'refund.failed') && object.id === inStripe.id)
        );
      })
      .map((event) => event.id);
    expect(eventIds).toHaveLength(3);
    await waitFor(
      () => stack.stores.sql`select 1 from stripe_events where id = any(${eventIds}::text[])`,
      (rows) => rows.length === 3,
      { what: 'the three refund events to be handled' },
    );
    const rows = await stack.stores.sql<{ idempotency_key: string; amount_micros: bigint }[]>`
      select idempotency_key, amount_micros from ledger_entries
      where kind = 'refund' and source->>'purchase_id' = ${purchaseId} order by id`;
    // Debited and credited back, or never debited (its key taken with 0): nothing either way.
    expect(rows.reduce((sum, row) => sum + row.amount_micros, 0n)).toBe(0n);
    expect(rows[0]?.idempotency_key).toBe(`refund:${inStripe.id}`);
    expect(await purchaseOf(ws, purchaseId)).toMatchObject({ refunded: '0.000000' });
    await expectMoney(ws, [
      ['purchase', micros(20)],
      ...rows.map((row): [string, bigint] => ['refund', row.amount_micros]),
    ]);
  });

  it('refunding credits already spent takes the balance below zero, in Redis as in Postgres', async () => {
    const { ws, purchaseId } = await purchased('10.00');
    // 100,000 prompt tokens at $10 per million: $1.00.
    const ingested = await stack.gateway.post('/v1/usage/events', {
      events: [
        {
          id: randomUUID(),
          account_id: ws.accountId,
          model: PAID_MODEL,
          prompt_tokens: 100_000,
          completion_tokens: 0,
        },
      ],
    });
    expect(ingested.status).toBe(202);
    await stack.drained();

    const sut = await refund(purchaseId);

    expect(sut).toMatchObject({ status: 201, body: { amount: '10.000000', balance: '-1.000000' } });
    await expectMoney(ws, [
      ['purchase', micros(10)],
      ['usage', -micros(1)],
      ['refund', -micros(10)],
    ]);
    expect((await stack.gateway.get(`${ws.path}/balance`)).body.balance).toBe('-1.000000');
  });

  describe('refused', () => {
    it('an unknown or malformed purchase id answers 404 purchase_not_found', async () => {
      expectError(await refund(randomUUID()), 404, 'purchase_not_found');
      expectError(await refund('not-a-purchase'), 404, 'purchase_not_found');
    });

    it('a purchase that did not succeed answers 409 purchase_not_refundable', async () => {
      const ws = await Workspace.create(stack);
      await saveCard(stack, ws, 'pm_card_chargeDeclinedInsufficientFunds');
      const declined = await stack.admin.post(
        `${ws.path}/purchases`,
        { amount: '10.00' },
        { 'idempotency-key': randomUUID() },
      );
      expect(declined.status).toBe(402);

      expectError(await refund(declined.body.purchase_id), 409, 'purchase_not_refundable');
    });

    it('a zero, negative or sub-cent amount answers 422 and refunds nothing', async () => {
      const { ws, purchaseId, paymentIntentId } = await purchased('10.00');

      expectError(await refund(purchaseId, { amount: '0' }), 422, 'invalid_amount');
      expectError(await refund(purchaseId, { amount: '0.001' }), 422, 'invalid_amount');
      expectError(await refund(purchaseId, { amount: '-1.00' }), 422, 'validation_failed');
      expect(await stripeRefundsOf(paymentIntentId)).toHaveLength(0);
      await expectMoney(ws, [['purchase', micros(10)]]);
    });

    it('a disputed charge answers 409 charge_disputed', async () => {
      const { purchaseId, paymentIntentId } = await purchased('10.00');
      const intent = await stripe.paymentIntents.retrieve(paymentIntentId);
      const disputed = await fetch(
        `${stack.stripeServer!.url}/_test/charges/${intent.latest_charge as string}/dispute`,
        {
          method: 'POST',
        },
      );
      expect(disputed.status).toBe(200);

      expectError(await refund(purchaseId), 409, 'charge_disputed');
    });

    it('workspace keys, even the owner’s, and gateway tokens get 403: refunds are for the operator', async () => {
      const { ws, purchaseId, paymentIntentId } = await purchased('10.00');
      const owner = await ws.createKey({ role: 'owner' });

      expectError(await refund(purchaseId, {}, randomUUID(), ws.asKey(owner.key).api), 403, 'forbidden');
      expectError(
        await refund(purchaseId, {}, randomUUID(), stack.admin.as(TEST_GATEWAY_TOKEN)),
        403,
        'forbidden',
      );
      expect(await stripeRefundsOf(paymentIntentId)).toHaveLength(0);
    });
  });

  it('after everything, every account’s Redis balance equals its Postgres balance and its ledger sum', async () => {
    const postgres = await stack.stores.postgresBalances();
    const ledger = await stack.stores.ledgerSums();
    for (const [accountId, balance] of postgres) {
      expect({ accountId, ledger: ledger.get(accountId) ?? 0n }).toEqual({ accountId, ledger: balance });
      const redis = await stack.stores.redisBalance(accountId);
      if (balance !== 0n) expect({ accountId, redis }).toEqual({ accountId, redis: balance });
      else expect([null, 0n]).toContainEqual(redis);
    }
    const [{ over }] = await stack.stores.sql<{ over: bigint }[]>`
      select count(*)::bigint as over from credit_purchases where refunded_micros > amount_micros`;
    expect(over).toBe(0n);
  });
});
