import { formatUsd, parseUsd } from '@app/money';
import { purchaseIntentKey } from '@app/payments';
import { randomUUID } from 'node:crypto';
import Stripe from 'stripe';
import { ApiClient, JsonResponse } from '../support/api-client';
import { BillingStack } from '../support/billing-stack';
import { authenticate, saveCard } from '../support/cards';
import { waitFor } from '../support/wait-for';
import { Workspace } from '../support/workspace';

const PAID_MODEL = 'openai/gpt-4o-mini';

type Tier = 'free' | 'developer' | 'enterprise';

interface Card {
  id: string;
  brand: string;
  last4: string;
}

/**
 * Credit purchases by card (issue "Payments" items 2-3, I2, I4, I7): an Idempotency-Key is one
 * purchase, charged at most once and credited exactly once through the ledger; declines and
 * authentication leave the balance alone; the first purchase moves Free to Developer.
 */
describe('credit purchases with a saved card', () => {
  const stack = new BillingStack({ workers: 1, stripe: true });
  let stripe: Stripe;

  function expectError(response: JsonResponse, status: number, code: string): void {
    expect({ status: response.status, code: response.body?.error?.code }).toEqual({ status, code });
  }

  async function workspaceWithCard(tier: Tier = 'developer', card = 'pm_card_visa') {
    const ws = await Workspace.create(stack, tier);
    return { ws, card: await saveCard(stack, ws, card) };
  }

  function buy(
    ws: Workspace,
    body: Record<string, unknown>,
    key: string | null = randomUUID(),
    client: ApiClient = stack.admin,
  ) {
    return client.post(`${ws.path}/purchases`, body, key === null ? {} : { 'idempotency-key': key });
  }

  async function balanceOf(ws: Workspace): Promise<string> {
    const response = await stack.gateway.get(`${ws.path}/balance`);
    expect(response.status).toBe(200);
    return response.body.balance;
  }

  async function customerOf(ws: Workspace): Promise<string | null> {
    const [row] = await stack.stores.sql<{ stripe_customer_id: string | null }[]>`
      select stripe_customer_id from accounts where id = ${ws.accountId}`;
    return row.stripe_customer_id;
  }

  /** What Stripe and our ledger hold for the account's card purchases. */
  async function moneyOf(ws: Workspace) {
    const customer = await customerOf(ws);
    const intents = customer ? (await stripe.paymentIntents.list({ customer, limit: 100 })).data : [];
    const charges = customer ? (await stripe.charges.list({ customer, limit: 100 })).data : [];
    const [{ n }] = await stack.stores.sql<{ n: bigint }[]>`
      select count(*)::bigint as n from ledger_entries
      where account_id = ${ws.accountId} and idempotency_key like 'purchase:%'`;
    const [{ rows }] = await stack.stores.sql<{ rows: bigint }[]>`
      select count(*)::bigint as rows from credit_purchases where account_id = ${ws.accountId}`;
    return {
      paymentIntents: intents.length,
      succeededCharges: charges.filter((charge) => charge.status === 'succeeded').length,
      ledgerRows: Number(n),
      purchaseRows: Number(rows),
    };
  }

  async function auditOf(ws: Workspace, action: string) {
    const response = await stack.admin.get(`${ws.path}/audit-log?limit=1000&action=${action}`);
    expect(response.status).toBe(200);
    return response.body.entries as {
      action: string;
      target: { type: string; id: string };
      before: any;
      after: any;
      created_at: string;
    }[];
  }

  async function tierOf(ws: Workspace): Promise<string> {
    const response = await stack.admin.get(ws.path);
    expect(response.status).toBe(200);
    return response.body.tier;
  }

  beforeAll(async () => {
    await stack.start();
    stripe = stack.stripeClient();
    await stack.setPrice(PAID_MODEL, '0.15', '0.60');
  });

  afterAll(() => stack.stop());

  describe('a successful purchase', () => {
    it('answers 201 succeeded with the new balance and the card, charged once and credited once', async () => {
      const { ws, card } = await workspaceWithCard();
      await stack.grant(ws.accountId, '1.50');

      const sut = await buy(ws, { amount: '12.34' });

      expect(sut.status).toBe(201);
      expect(sut.body).toMatchObject({
        id: expect.any(String),
        kind: 'purchase',
        amount: '12.340000',
        currency: 'USD',
        status: 'succeeded',
        balance: '13.840000',
        payment_method: { id: card.id, brand: 'visa', last4: '4242' },
        payment_intent_id: expect.stringMatching(/^pi_/),
        failure: null,
      });
      expect(await balanceOf(ws)).toBe('13.840000');
      expect(await moneyOf(ws)).toEqual({
        paymentIntents: 1,
        succeededCharges: 1,
        ledgerRows: 1,
        purchaseRows: 1,
      });
      const intent = await stripe.paymentIntents.retrieve(sut.body.payment_intent_id);
      expect(intent).toMatchObject({
        amount: 1234,
        currency: 'usd',
        status: 'succeeded',
        customer: await customerOf(ws),
        payment_method: card.id,
        metadata: { purchase_id: sut.body.id, account_id: ws.accountId },
      });
    });

    it('charges the default card when no card is named, and the named one otherwise', async () => {
      const { ws } = await workspaceWithCard('developer', 'pm_card_visa');
      const other = await saveCard(stack, ws, 'pm_card_mastercard');

      const byDefault = await buy(ws, { amount: '5.00' });
      const byName = await buy(ws, { amount: '6.00', payment_method_id: other.id });

      expect(byDefault.body.payment_method).toMatchObject({ brand: 'visa', last4: '4242' });
      expect(byName.body.payment_method).toMatchObject({ id: other.id, brand: 'mastercard', last4: '4444' });
      expect(await balanceOf(ws)).toBe('11.000000');
    });

    it.each(['5.00', '25000.00', '5', '17.1'])('accepts the amount %s', async (amount) => {
      const { ws } = await workspaceWithCard();

      const sut = await buy(ws, { amount });

      expect(sut.status).toBe(201);
      expect(sut.body.balance).toBe(formatUsd(parseUsd(amount)));
    });

    it('lists purchases newest first and reads one by id', async () => {
      const { ws } = await workspaceWithCard();
      const first = await buy(ws, { amount: '5.00' });
      const second = await buy(ws, { amount: '7.00' });

      const list = await stack.admin.get(`${ws.path}/purchases`);
      const one = await stack.admin.get(`${ws.path}/purchases/${first.body.id}`);

      expect(list.status).toBe(200);
      expect(list.body.purchases.map((p: { id: string }) => p.id)).toEqual([second.body.id, first.body.id]);
      const { balance: _balance, ...firstView } = first.body;
      expect(one).toMatchObject({ status: 200, body: firstView });
    });

    it('answers 404 purchase_not_found for an unknown id, a malformed id and another account’s purchase', async () => {
      const { ws } = await workspaceWithCard();
      const { ws: other } = await workspaceWithCard();
      const theirs = await buy(other, { amount: '5.00' });

      for (const id of [randomUUID(), 'not-a-uuid', theirs.body.id]) {
        expectError(await stack.admin.get(`${ws.path}/purchases/${id}`), 404, 'purchase_not_found');
      }
      expect((await stack.admin.get(`${ws.path}/purchases`)).body.purchases).toEqual([]);
    });

    it('keeps the card’s brand and last4 on past purchases after the card is removed', async () => {
      const { ws, card } = await workspaceWithCard('developer', 'pm_card_amex');
      const purchase = await buy(ws, { amount: '5.00' });
      expect((await stack.admin.delete(`${ws.path}/payment-methods/${card.id}`)).status).toBe(204);

      const one = await stack.admin.get(`${ws.path}/purchases/${purchase.body.id}`);
      const list = await stack.admin.get(`${ws.path}/purchases`);

      const expected = { id: card.id, brand: 'amex', last4: card.last4 };
      expect(one.body.payment_method).toEqual(expected);
      expect(list.body.purchases[0].payment_method).toEqual(expected);
      expectError(
        await buy(ws, { amount: '5.00', payment_method_id: card.id }),
        404,
        'payment_method_not_found',
      );
    });
  });

  describe('tiers', () => {
    it('the first successful purchase moves a Free account to Developer, audited with the purchase', async () => {
      const { ws } = await workspaceWithCard('free');
      const authorize = () =>
        stack.gateway.post('/v1/authorize', { account_id: ws.accountId, model: PAID_MODEL });
      expect((await authorize()).body).toMatchObject({
        allowed: false,
        reason: 'model_not_allowed_on_free_tier',
      });

      const sut = await buy(ws, { amount: '10.00' });

      expect(sut.status).toBe(201);
      expect(await tierOf(ws)).toBe('developer');
      const [purchased] = await auditOf(ws, 'credits.purchased');
      expect(purchased).toMatchObject({
        target: { type: 'purchase', id: sut.body.id },
        before: { balance_micros: '0' },
        after: {
          balance_micros: '10000000',
          amount_micros: '10000000',
          payment_intent: sut.body.payment_intent_id,
        },
      });
      const changes = await auditOf(ws, 'account.tier_changed');
      expect(changes).toHaveLength(1);
      expect(changes[0]).toMatchObject({
        target: { type: 'account', id: ws.accountId },
        before: { tier: 'free' },
        after: { tier: 'developer' },
      });
      // The account shows when it became Developer: the time of the purchase's transaction.
      expect((await stack.admin.get(ws.path)).body.tier_changed_at).toBe(changes[0].created_at);
      // Ingest follows the tier change (catalog version), so paid models are allowed now.
      await waitFor(authorize, (response) => response.body?.allowed === true, {
        what: 'authorize to allow a paid model after the purchase',
      });
    });

    it.each<Tier>(['developer', 'enterprise'])(
      'a %s account keeps its tier, with no tier change audited',
      async (tier) => {
        const { ws } = await workspaceWithCard(tier);

        await buy(ws, { amount: '5.00' });
        await buy(ws, { amount: '5.00' });

        expect(await tierOf(ws)).toBe(tier);
        expect(await auditOf(ws, 'account.tier_changed')).toEqual([]);
        expect(await auditOf(ws, 'credits.purchased')).toHaveLength(2);
      },
    );

    it('a second purchase of a former Free account changes nothing more', async () => {
      const { ws } = await workspaceWithCard('free');
      await buy(ws, { amount: '5.00' });
      const upgradedAt = (await stack.admin.get(ws.path)).body.tier_changed_at;

      await buy(ws, { amount: '5.00' });

      expect(await tierOf(ws)).toBe('developer');
      expect(await auditOf(ws, 'account.tier_changed')).toHaveLength(1);
      expect((await stack.admin.get(ws.path)).body.tier_changed_at).toBe(upgradedAt);
    });

    it('a declined purchase leaves a Free account Free', async () => {
      const { ws } = await workspaceWithCard('free', 'pm_card_chargeCustomerFail');

      expect((await buy(ws, { amount: '5.00' })).status).toBe(402);

      expect(await tierOf(ws)).toBe('free');
    });
  });

  describe('requests refused before any charge', () => {
    it.each([
      ['missing', null, 'idempotency_key_required'],
      ['empty', '', 'idempotency_key_required'],
      ['longer than 255 characters', 'k'.repeat(256), 'invalid_idempotency_key'],
      ['not printable ASCII', 'clé unique', 'invalid_idempotency_key'],
    ])('an Idempotency-Key %s answers 400 %s', async (_, key, code) => {
      const { ws } = await workspaceWithCard();

      expectError(await buy(ws, { amount: '10.00' }, key), 400, code);
      expect(await moneyOf(ws)).toEqual({
        paymentIntents: 0,
        succeededCharges: 0,
        ledgerRows: 0,
        purchaseRows: 0,
      });
    });

    it.each(['4.99', '0.00', '25000.01', '1000000.00'])(
      'an amount outside $5-$25,000 (%s) answers 422 invalid_amount',
      async (amount) => {
        const { ws } = await workspaceWithCard();

        expectError(await buy(ws, { amount }), 422, 'invalid_amount');
        expect(await moneyOf(ws)).toEqual({
          paymentIntents: 0,
          succeededCharges: 0,
          ledgerRows: 0,
          purchaseRows: 0,
        });
      },
    );

    it.each(['5.001', '10.999999'])(
      'an amount that is not whole cents (%s) answers 422 invalid_amount',
      async (amount) => {
        const { ws } = await workspaceWithCard();

        expectError(await buy(ws, { amount }), 422, 'invalid_amount');
        expect(await moneyOf(ws)).toEqual({
          paymentIntents: 0,
          succeededCharges: 0,
          ledgerRows: 0,
          purchaseRows: 0,
        });
      },
    );

    it.each([['-5.00'], ['ten'], ['1e3'], ['5.0000001'], [10]])(
      'a malformed amount (%p) answers 422',
      async (amount) => {
        const { ws } = await workspaceWithCard();

        const response = await buy(ws, { amount });

        expect(response.status).toBe(422);
        expect(await moneyOf(ws)).toEqual({
          paymentIntents: 0,
          succeededCharges: 0,
          ledgerRows: 0,
          purchaseRows: 0,
        });
      },
    );

    it('an account without a card answers 422 no_payment_method', async () => {
      const ws = await Workspace.create(stack);

      expectError(await buy(ws, { amount: '10.00' }), 422, 'no_payment_method');
      expect(await moneyOf(ws)).toMatchObject({ ledgerRows: 0, purchaseRows: 0 });
    });

    it('a member key answers 403 insufficient_role; a billing key may buy', async () => {
      const { ws } = await workspaceWithCard();
      const member = ws.asKey((await ws.createKey({ role: 'member' })).key).api;
      const billing = ws.asKey((await ws.createKey({ role: 'billing' })).key).api;

      expectError(await buy(ws, { amount: '10.00' }, randomUUID(), member), 403, 'insufficient_role');
      expectError(await member.get(`${ws.path}/purchases`), 403, 'insufficient_role');
      expect(await moneyOf(ws)).toMatchObject({ paymentIntents: 0, purchaseRows: 0 });

      const sut = await buy(ws, { amount: '10.00' }, randomUUID(), billing);
      expect(sut.status).toBe(201);
      expect((await billing.get(`${ws.path}/purchases/${sut.body.id}`)).status).toBe(200);
    });
  });

  describe('the Idempotency-Key', () => {
    it('sent again returns the same purchase and balance, charged and credited once', async () => {
      const { ws } = await workspaceWithCard();
      const key = randomUUID();
      const first = await buy(ws, { amount: '20.00' }, key);

      const again = await buy(ws, { amount: '20.00' }, key);

      expect(again).toMatchObject({ status: 201, body: first.body });
      expect(await balanceOf(ws)).toBe('20.000000');
      expect(await moneyOf(ws)).toEqual({
        paymentIntents: 1,
        succeededCharges: 1,
        ledgerRows: 1,
        purchaseRows: 1,
      });
    });

    it('reused with another amount or card answers 409 idempotency_key_reused and charges nothing more', async () => {
      const { ws } = await workspaceWithCard();
      const other = await saveCard(stack, ws, 'pm_card_mastercard');
      const key = randomUUID();
      await buy(ws, { amount: '20.00' }, key);

      expectError(await buy(ws, { amount: '21.00' }, key), 409, 'idempotency_key_reused');
      expectError(
        await buy(ws, { amount: '20.00', payment_method_id: other.id }, key),
        409,
        'idempotency_key_reused',
      );
      expect(await balanceOf(ws)).toBe('20.000000');
      expect(await moneyOf(ws)).toEqual({
        paymentIntents: 1,
        succeededCharges: 1,
        ledgerRows: 1,
        purchaseRows: 1,
      });
    });

    it('sent again after another card became the default returns the same purchase, charged once', async () => {
      const { ws, card } = await workspaceWithCard();
      const key = randomUUID();
      const first = await buy(ws, { amount: '20.00' }, key);
      expect(first.status).toBe(201);
      const other = await saveCard(stack, ws, 'pm_card_mastercard');
      expect((await stack.admin.post(`${ws.path}/payment-methods/${other.id}/default`)).status).toBe(200);

      const again = await buy(ws, { amount: '20.00' }, key);

      expect(again).toMatchObject({ status: 201, body: first.body });
      expect(again.body.payment_method.id).toBe(card.id);
      expect(await balanceOf(ws)).toBe('20.000000');
      expect(await moneyOf(ws)).toEqual({
        paymentIntents: 1,
        succeededCharges: 1,
        ledgerRows: 1,
        purchaseRows: 1,
      });
    });

    it.each([
      ['by default', (_card: Card) => ({ amount: '20.00' })],
      ['named', (card: Card) => ({ amount: '20.00', payment_method_id: card.id })],
    ])(
      'sent again after the card chosen %s was removed returns the same purchase, charged once',
      async (_, body) => {
        const { ws, card } = await workspaceWithCard();
        const key = randomUUID();
        const first = await buy(ws, body(card), key);
        expect(first.status).toBe(201);
        expect((await stack.admin.delete(`${ws.path}/payment-methods/${card.id}`)).status).toBe(204);

        const again = await buy(ws, body(card), key);

        expect(again).toMatchObject({ status: 201, body: first.body });
        expect(await moneyOf(ws)).toEqual({
          paymentIntents: 1,
          succeededCharges: 1,
          ledgerRows: 1,
          purchaseRows: 1,
        });
      },
    );

    it('is per account: another account may use the same key for its own purchase', async () => {
      const { ws: a } = await workspaceWithCard();
      const { ws: b } = await workspaceWithCard();
      const key = randomUUID();

      const forA = await buy(a, { amount: '5.00' }, key);
      const forB = await buy(b, { amount: '5.00' }, key);

      expect([forA.status, forB.status]).toEqual([201, 201]);
      expect(forA.body.id).not.toBe(forB.body.id);
    });

    it('20 concurrent requests with one key make one purchase, one charge and one credit', async () => {
      const { ws } = await workspaceWithCard();
      const key = randomUUID();

      const answers = await Promise.all(Array.from({ length: 20 }, () => buy(ws, { amount: '15.00' }, key)));

      expect(answers.map((answer) => answer.status)).toEqual(Array(20).fill(201));
      expect(new Set(answers.map((answer) => answer.body.id)).size).toBe(1);
      expect(new Set(answers.map((answer) => answer.body.balance))).toEqual(new Set(['15.000000']));
      expect(await balanceOf(ws)).toBe('15.000000');
      expect(await moneyOf(ws)).toEqual({
        paymentIntents: 1,
        succeededCharges: 1,
        ledgerRows: 1,
        purchaseRows: 1,
      });
    });

    it('20 concurrent requests with different keys make 20 purchases, and the balance is exact', async () => {
      const { ws } = await workspaceWithCard();
      await stack.grant(ws.accountId, '0.123456');

      const answers = await Promise.all(
        Array.from({ length: 20 }, (_, i) => buy(ws, { amount: `${5 + i}.01` })),
      );

      expect(answers.map((answer) => answer.status)).toEqual(Array(20).fill(201));
      // 5.01 + 6.01 + ... + 24.01 = 290.20, on top of the grant.
      expect(await balanceOf(ws)).toBe('290.323456');
      const balancesAfter = answers
        .map((answer) => parseUsd(answer.body.balance))
        .sort((x, y) => (x < y ? -1 : 1));
      expect(balancesAfter[balancesAfter.length - 1]).toBe(290_323_456n);
      expect(new Set(balancesAfter).size).toBe(20);
      expect(await moneyOf(ws)).toEqual({
        paymentIntents: 20,
        succeededCharges: 20,
        ledgerRows: 20,
        purchaseRows: 20,
      });
    });
  });

  describe('declined cards', () => {
    it.each([
      ['pm_card_chargeDeclinedInsufficientFunds', 'card_declined', 'insufficient_funds'],
      ['pm_card_chargeCustomerFail', 'card_declined', 'generic_decline'],
    ])(
      '%s answers 402 %s / %s, records the purchase failed and credits nothing',
      async (card, code, decline) => {
        const { ws } = await workspaceWithCard('developer', card);
        await stack.grant(ws.accountId, '3.00');

        const sut = await buy(ws, { amount: '50.00' });

        expect(sut.status).toBe(402);
        expect(sut.body).toMatchObject({
          error: { code, message: expect.any(String) },
          decline_code: decline,
          purchase_id: expect.any(String),
        });
        const purchase = await stack.admin.get(`${ws.path}/purchases/${sut.body.purchase_id}`);
        expect(purchase.body).toMatchObject({
          status: 'failed',
          failure: { code, decline_code: decline },
          succeeded_at: null,
        });
        expect(await balanceOf(ws)).toBe('3.000000');
        expect(await moneyOf(ws)).toMatchObject({ succeededCharges: 0, ledgerRows: 0, purchaseRows: 1 });
        expect(await auditOf(ws, 'credits.purchased')).toEqual([]);
      },
    );

    it('retrying a declined purchase with the same key answers the same 402 without charging again', async () => {
      const { ws } = await workspaceWithCard('developer', 'pm_card_chargeDeclinedInsufficientFunds');
      const key = randomUUID();
      const first = await buy(ws, { amount: '50.00' }, key);
      const intentsAfterFirst = (await moneyOf(ws)).paymentIntents;

      const again = await buy(ws, { amount: '50.00' }, key);

      expect(again).toMatchObject({ status: 402, body: first.body });
      expect(await moneyOf(ws)).toMatchObject({
        paymentIntents: intentsAfterFirst,
        ledgerRows: 0,
        purchaseRows: 1,
      });
    });

    it('a new key with a good card then succeeds', async () => {
      const { ws } = await workspaceWithCard('developer', 'pm_card_chargeDeclinedInsufficientFunds');
      const good = await saveCard(stack, ws, 'pm_card_visa');
      expect((await buy(ws, { amount: '50.00' })).status).toBe(402);

      const sut = await buy(ws, { amount: '50.00', payment_method_id: good.id });

      expect(sut.status).toBe(201);
      expect(await balanceOf(ws)).toBe('50.000000');
    });
  });

  describe('cards that require authentication', () => {
    it('answer 200 requires_action with what Stripe.js needs, and credit nothing yet', async () => {
      const { ws } = await workspaceWithCard('free', 'pm_card_authenticationRequired');
      const key = randomUUID();

      const sut = await buy(ws, { amount: '30.00' }, key);

      expect(sut.status).toBe(200);
      expect(sut.body).toMatchObject({
        status: 'requires_action',
        client_secret: expect.any(String),
        next_action: { type: expect.any(String) },
        payment_intent_id: expect.stringMatching(/^pi_/),
      });
      const intent = await stripe.paymentIntents.retrieve(sut.body.payment_intent_id);
      expect(intent).toMatchObject({ status: 'requires_action', client_secret: sut.body.client_secret });
      expect(await balanceOf(ws)).toBe('0.000000');
      expect(await tierOf(ws)).toBe('free');
      expect(await moneyOf(ws)).toEqual({
        paymentIntents: 1,
        succeededCharges: 0,
        ledgerRows: 0,
        purchaseRows: 1,
      });

      // The client asking again before authenticating gets the same purchase and PaymentIntent.
      const again = await buy(ws, { amount: '30.00' }, key);
      expect(again.status).toBe(200);
      expect(again.body).toMatchObject({ id: sut.body.id, payment_intent_id: sut.body.payment_intent_id });
      expect(await moneyOf(ws)).toEqual({
        paymentIntents: 1,
        succeededCharges: 0,
        ledgerRows: 0,
        purchaseRows: 1,
      });
    });

    it('once the card holder authenticated, the retried purchase is credited exactly once', async () => {
      const { ws } = await workspaceWithCard('free', 'pm_card_authenticationRequired');
      const key = randomUUID();
      const pending = await buy(ws, { amount: '30.00' }, key);
      await authenticate(stack, 'payment_intents', pending.body.payment_intent_id);

      const answers = [await buy(ws, { amount: '30.00' }, key), await buy(ws, { amount: '30.00' }, key)];

      expect(answers.map((answer) => [answer.status, answer.body.status, answer.body.id])).toEqual([
        [201, 'succeeded', pending.body.id],
        [201, 'succeeded', pending.body.id],
      ]);
      expect(await balanceOf(ws)).toBe('30.000000');
      expect(await tierOf(ws)).toBe('developer');
      expect(await moneyOf(ws)).toEqual({
        paymentIntents: 1,
        succeededCharges: 1,
        ledgerRows: 1,
        purchaseRows: 1,
      });
    });
  });

  describe('a purchase left pending by a crash after Stripe charged', () => {
    /**
     * What a process killed between the PaymentIntent's success and the credit transaction leaves
     * behind: the purchase row, still pending, and a succeeded PaymentIntent made with the row's
     * idempotency key, exactly as the api would have sent it.
     */
    async function leftPending(ws: Workspace, card: Card, key: string, amount: string) {
      const micros = parseUsd(amount);
      const [row] = await stack.stores.sql<{ id: string }[]>`
        insert into credit_purchases (account_id, kind, request_key, amount_micros, payment_method_id, card_brand, card_last4)
        values (${ws.accountId}, 'purchase', ${`purchase:${ws.accountId}:${key}`}, ${micros}, ${card.id}, ${card.brand}, ${card.last4})
        returning id`;
      const intent = await stripe.paymentIntents.create(
        {
          amount: Number(micros / 10_000n),
          currency: 'usd',
          customer: (await customerOf(ws))!,
          payment_method: card.id,
          confirm: true,
          description: `Credits ${formatUsd(micros)} USD`,
          metadata: { purchase_id: row.id, account_id: ws.accountId, kind: 'purchase' },
          automatic_payment_methods: { enabled: true, allow_redirects: 'never' },
        },
        { idempotencyKey: purchaseIntentKey(row.id) },
      );
      expect(intent.status).toBe('succeeded');
      return { purchaseId: row.id, intent };
    }

    it('is credited exactly once when the client retries with the same Idempotency-Key', async () => {
      const { ws, card } = await workspaceWithCard();
      const key = randomUUID();
      const { purchaseId, intent } = await leftPending(ws, card, key, '40.00');

      const answers = await Promise.all(Array.from({ length: 5 }, () => buy(ws, { amount: '40.00' }, key)));

      expect(answers.map((answer) => [answer.status, answer.body.id, answer.body.payment_intent_id])).toEqual(
        Array(5).fill([201, purchaseId, intent.id]),
      );
      expect(await balanceOf(ws)).toBe('40.000000');
      expect(await moneyOf(ws)).toEqual({
        paymentIntents: 1,
        succeededCharges: 1,
        ledgerRows: 1,
        purchaseRows: 1,
      });
      expect(await auditOf(ws, 'credits.purchased')).toHaveLength(1);
    });

    it('that already names its succeeded PaymentIntent is credited from it, not charged again', async () => {
      const { ws, card } = await workspaceWithCard();
      const key = randomUUID();
      const micros = parseUsd('40.00');
      const [row] = await stack.stores.sql<{ id: string }[]>`
        insert into credit_purchases (account_id, kind, request_key, amount_micros, payment_method_id, card_brand, card_last4)
        values (${ws.accountId}, 'purchase', ${`purchase:${ws.accountId}:${key}`}, ${micros}, ${card.id}, ${card.brand}, ${card.last4})
        returning id`;
      // Made by an earlier attempt whose Stripe idempotency key has since expired (Stripe keeps them 24 hours).
      const intent = await stripe.paymentIntents.create({
        amount: 4000,
        currency: 'usd',
        customer: (await customerOf(ws))!,
        payment_method: card.id,
        confirm: true,
        metadata: { purchase_id: row.id, account_id: ws.accountId, kind: 'purchase' },
      });
      await stack.stores
        .sql`update credit_purchases set payment_intent_id = ${intent.id} where id = ${row.id}`;

      const sut = await buy(ws, { amount: '40.00' }, key);

      expect(sut).toMatchObject({ status: 201, body: { id: row.id, payment_intent_id: intent.id } });
      expect(await balanceOf(ws)).toBe('40.000000');
      expect(await moneyOf(ws)).toEqual({
        paymentIntents: 1,
        succeededCharges: 1,
        ledgerRows: 1,
        purchaseRows: 1,
      });
    });
  });

  it('after everything, every account’s Redis balance equals its Postgres balance and its ledger sum', async () => {
    const postgres = await stack.stores.postgresBalances();
    const ledger = await stack.stores.ledgerSums();
    expect(postgres.size).toBeGreaterThan(20);
    for (const [accountId, micros] of postgres) {
      expect({ accountId, ledger: ledger.get(accountId) ?? 0n }).toEqual({ accountId, ledger: micros });
      const redis = await stack.stores.redisBalance(accountId);
      if (micros !== 0n) expect({ accountId, redis }).toEqual({ accountId, redis: micros });
      else expect([null, 0n]).toContainEqual(redis);
    }
  });
});

describe('purchase limits from PURCHASE_MIN_USD and PURCHASE_MAX_USD', () => {
  const stack = new BillingStack({
    workers: 1,
    stripe: true,
    env: { PURCHASE_MIN_USD: '10.00', PURCHASE_MAX_USD: '100.00' },
  });
  let ws: Workspace;

  beforeAll(async () => {
    await stack.start();
    ws = await Workspace.create(stack);
    await saveCard(stack, ws);
  });

  afterAll(() => stack.stop());

  it.each([
    ['9.99', 422],
    ['10.00', 201],
    ['100.00', 201],
    ['100.01', 422],
  ])('%s answers %d', async (amount, status) => {
    const response = await stack.admin.post(
      `${ws.path}/purchases`,
      { amount },
      { 'idempotency-key': randomUUID() },
    );

    expect(response.status).toBe(status);
    if (status === 422) {
      expect(response.body.error.code).toBe('invalid_amount');
      expect(response.body.error.message).toContain('10.000000');
      expect(response.body.error.message).toContain('100.000000');
    }
  });
});
