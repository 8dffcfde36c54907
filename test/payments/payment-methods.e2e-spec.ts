import { randomUUID } from 'node:crypto';
import Stripe from 'stripe';
import { ApiClient, JsonResponse } from '../support/api-client';
import { BillingStack } from '../support/billing-stack';
import { saveCard } from '../support/cards';
import { Workspace } from '../support/workspace';

/**
 * Saved cards (issue "Payments" item 1): SetupIntent → confirmed by the client (here the test,
 * acting as Stripe.js, through the official SDK) → saved with brand and last4; one default at a
 * time; removal detaches the card in Stripe; one Stripe customer per account.
 */
describe('payment methods: cards saved through SetupIntents', () => {
  const stack = new BillingStack({ workers: 1, stripe: true });
  let stripe: Stripe;

  function expectError(response: JsonResponse, status: number, code: string): void {
    expect({ status: response.status, code: response.body?.error?.code }).toEqual({ status, code });
  }

  async function startSetup(ws: Workspace, client: ApiClient = stack.admin) {
    const response = await client.post(`${ws.path}/payment-methods/setup-intents`);
    expect(response.status).toBe(201);
    return response.body as { setup_intent_id: string; client_secret: string };
  }

  async function listCards(ws: Workspace) {
    const response = await stack.admin.get(`${ws.path}/payment-methods`);
    expect(response.status).toBe(200);
    return response.body.payment_methods as { id: string; is_default: boolean; last4: string }[];
  }

  async function customersOf(accountId: string): Promise<Stripe.Customer[]> {
    const all: Stripe.Customer[] = [];
    for await (const customer of stripe.customers.list({ limit: 100 })) all.push(customer);
    return all.filter((customer) => customer.metadata.account_id === accountId);
  }

  async function auditActions(ws: Workspace): Promise<string[]> {
    const response = await stack.admin.get(`${ws.path}/audit-log?limit=1000`);
    expect(response.status).toBe(200);
    return response.body.entries.map((entry: { action: string }) => entry.action);
  }

  beforeAll(async () => {
    await stack.start();
    stripe = stack.stripeClient();
  });

  afterAll(() => stack.stop());

  describe('adding a card', () => {
    it('a SetupIntent is created off-session for the account’s own Stripe customer', async () => {
      const ws = await Workspace.create(stack);
      const sut = await startSetup(ws);

      expect(sut).toEqual({
        setup_intent_id: expect.stringMatching(/^seti_/),
        client_secret: expect.any(String),
      });
      const intent = await stripe.setupIntents.retrieve(sut.setup_intent_id);
      expect(intent.client_secret).toBe(sut.client_secret);
      expect(intent.usage).toBe('off_session');
      expect(intent.status).toBe('requires_payment_method');
      const [customer] = await customersOf(ws.accountId);
      expect(intent.customer).toBe(customer.id);
    });

    it('a SetupIntent not confirmed yet is refused with 409 setup_incomplete and saves nothing', async () => {
      const ws = await Workspace.create(stack);
      const setup = await startSetup(ws);

      const response = await stack.admin.post(`${ws.path}/payment-methods`, {
        setup_intent_id: setup.setup_intent_id,
      });

      expectError(response, 409, 'setup_incomplete');
      expect(await listCards(ws)).toEqual([]);
    });

    it('a SetupIntent whose card was declined at setup stays incomplete (409) and saves nothing', async () => {
      const ws = await Workspace.create(stack);
      const setup = await startSetup(ws);
      await expect(
        stripe.setupIntents.confirm(setup.setup_intent_id, { payment_method: 'pm_card_chargeDeclined' }),
      ).rejects.toMatchObject({ type: 'StripeCardError', code: 'card_declined' });

      const response = await stack.admin.post(`${ws.path}/payment-methods`, {
        setup_intent_id: setup.setup_intent_id,
      });

      expectError(response, 409, 'setup_incomplete');
      expect(await listCards(ws)).toEqual([]);
    });

    it('a confirmed SetupIntent saves the card with brand, last4 and expiry, and the first card is the default', async () => {
      const ws = await Workspace.create(stack);

      const sut = await saveCard(stack, ws, 'pm_card_visa');

      expect(sut).toEqual({
        id: expect.stringMatching(/^pm_/),
        brand: 'visa',
        last4: '4242',
        exp_month: expect.any(Number),
        exp_year: expect.any(Number),
        is_default: true,
      });
      expect(await listCards(ws)).toEqual([sut]);
      const method = await stripe.paymentMethods.retrieve(sut.id);
      expect(method.customer).toBe((await customersOf(ws.accountId))[0].id);
      expect(method.card).toMatchObject({ exp_month: sut.exp_month, exp_year: sut.exp_year });
      expect(await auditActions(ws)).toContain('payment_method.added');
    });

    it('saving the same SetupIntent again returns the same card and adds no second one', async () => {
      const ws = await Workspace.create(stack);
      const setup = await startSetup(ws);
      await stripe.setupIntents.confirm(setup.setup_intent_id, { payment_method: 'pm_card_mastercard' });
      const body = { setup_intent_id: setup.setup_intent_id };

      const answers = await Promise.all(
        Array.from({ length: 5 }, () => stack.admin.post(`${ws.path}/payment-methods`, body)),
      );

      expect(answers.map((answer) => answer.status)).toEqual([201, 201, 201, 201, 201]);
      expect(new Set(answers.map((answer) => answer.body.id)).size).toBe(1);
      expect(await listCards(ws)).toEqual([answers[0].body]);
      expect((await auditActions(ws)).filter((action) => action === 'payment_method.added')).toHaveLength(1);
    });

    it('a second card is saved but does not take the default', async () => {
      const ws = await Workspace.create(stack);
      const first = await saveCard(stack, ws, 'pm_card_visa');

      const second = await saveCard(stack, ws, 'pm_card_mastercard');

      expect(second).toMatchObject({ brand: 'mastercard', last4: '4444', is_default: false });
      expect(await listCards(ws)).toEqual([first, second]);
    });

    it('an unknown SetupIntent id answers 404 setup_intent_not_found', async () => {
      const ws = await Workspace.create(stack);

      const response = await stack.admin.post(`${ws.path}/payment-methods`, { setup_intent_id: 'seti_nope' });

      expectError(response, 404, 'setup_intent_not_found');
    });

    it('a SetupIntent missing from the body is a 422 validation error', async () => {
      const ws = await Workspace.create(stack);

      const response = await stack.admin.post(`${ws.path}/payment-methods`, {});

      expectError(response, 422, 'validation_failed');
    });
  });

  describe('one Stripe customer per account', () => {
    it('concurrent first calls create exactly one customer, the one the account keeps', async () => {
      const ws = await Workspace.create(stack);

      const setups = await Promise.all(Array.from({ length: 10 }, () => startSetup(ws)));

      const customers = await customersOf(ws.accountId);
      expect(customers).toHaveLength(1);
      const [{ stripe_customer_id }] = await stack.stores.sql<{ stripe_customer_id: string }[]>`
        select stripe_customer_id from accounts where id = ${ws.accountId}`;
      expect(stripe_customer_id).toBe(customers[0].id);
      for (const setup of setups) {
        expect((await stripe.setupIntents.retrieve(setup.setup_intent_id)).customer).toBe(customers[0].id);
      }
    });

    it('later calls reuse the customer', async () => {
      const ws = await Workspace.create(stack);
      await saveCard(stack, ws);
      await saveCard(stack, ws, 'pm_card_amex');

      expect(await customersOf(ws.accountId)).toHaveLength(1);
    });
  });

  describe('the default card', () => {
    it('choosing another card moves the default, here and in Stripe', async () => {
      const ws = await Workspace.create(stack);
      const first = await saveCard(stack, ws, 'pm_card_visa');
      const second = await saveCard(stack, ws, 'pm_card_mastercard');

      const response = await stack.admin.post(`${ws.path}/payment-methods/${second.id}/default`);

      expect(response.status).toBe(200);
      expect(response.body).toEqual({ ...second, is_default: true });
      expect(await listCards(ws)).toEqual([
        { ...second, is_default: true },
        { ...first, is_default: false },
      ]);
      const [customer] = await customersOf(ws.accountId);
      expect(customer.invoice_settings.default_payment_method).toBe(second.id);
      expect(await auditActions(ws)).toContain('payment_method.default_changed');
    });

    it('concurrent switches leave exactly one default card', async () => {
      const ws = await Workspace.create(stack);
      const cards = [
        await saveCard(stack, ws, 'pm_card_visa'),
        await saveCard(stack, ws, 'pm_card_mastercard'),
        await saveCard(stack, ws, 'pm_card_amex'),
      ];

      const answers = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          stack.admin.post(`${ws.path}/payment-methods/${cards[i % cards.length].id}/default`),
        ),
      );

      expect(answers.map((answer) => answer.status)).toEqual(Array(20).fill(200));
      const defaults = (await listCards(ws)).filter((card) => card.is_default);
      expect(defaults).toHaveLength(1);
      const [{ n }] = await stack.stores.sql<{ n: bigint }[]>`
        select count(*)::bigint as n from payment_methods where account_id = ${ws.accountId} and is_default`;
      expect(n).toBe(1n);
    });

    it('an unknown card id answers 404 payment_method_not_found', async () => {
      const ws = await Workspace.create(stack);

      const response = await stack.admin.post(`${ws.path}/payment-methods/pm_nope/default`);

      expectError(response, 404, 'payment_method_not_found');
    });
  });

  describe('removing a card', () => {
    it('detaches it in Stripe, drops it from the list, and a purchase with it answers 404', async () => {
      const ws = await Workspace.create(stack);
      const keep = await saveCard(stack, ws, 'pm_card_visa');
      const sut = await saveCard(stack, ws, 'pm_card_mastercard');

      const response = await stack.admin.delete(`${ws.path}/payment-methods/${sut.id}`);

      expect(response.status).toBe(204);
      expect(await listCards(ws)).toEqual([keep]);
      const [customer] = await customersOf(ws.accountId);
      const attached = await stripe.customers.listPaymentMethods(customer.id, { type: 'card' });
      expect(attached.data.map((method) => method.id)).toEqual([keep.id]);
      expect(await auditActions(ws)).toContain('payment_method.removed');
      const purchase = await stack.admin.post(
        `${ws.path}/purchases`,
        { amount: '10.00', payment_method_id: sut.id },
        { 'idempotency-key': randomUUID() },
      );
      expectError(purchase, 404, 'payment_method_not_found');
      expect((await stripe.paymentIntents.list({ customer: customer.id })).data).toEqual([]);
    });

    it('removing it again, or making it the default, answers 404', async () => {
      const ws = await Workspace.create(stack);
      const sut = await saveCard(stack, ws);
      await stack.admin.delete(`${ws.path}/payment-methods/${sut.id}`);

      expectError(
        await stack.admin.delete(`${ws.path}/payment-methods/${sut.id}`),
        404,
        'payment_method_not_found',
      );
      expectError(
        await stack.admin.post(`${ws.path}/payment-methods/${sut.id}/default`),
        404,
        'payment_method_not_found',
      );
    });

    it('removing the default card makes the newest remaining card the default, here and in Stripe', async () => {
      const ws = await Workspace.create(stack);
      const oldest = await saveCard(stack, ws, 'pm_card_visa');
      const newest = await saveCard(stack, ws, 'pm_card_mastercard');
      const sut = await saveCard(stack, ws, 'pm_card_amex');
      expect((await stack.admin.post(`${ws.path}/payment-methods/${sut.id}/default`)).status).toBe(200);

      expect((await stack.admin.delete(`${ws.path}/payment-methods/${sut.id}`)).status).toBe(204);

      expect(await listCards(ws)).toEqual([
        { ...newest, is_default: true },
        { ...oldest, is_default: false },
      ]);
      const [customer] = await customersOf(ws.accountId);
      expect(customer.invoice_settings.default_payment_method).toBe(newest.id);
      const audit = await stack.admin.get(
        `${ws.path}/audit-log?limit=100&action=payment_method.default_changed`,
      );
      expect(audit.body.entries[0]).toMatchObject({
        target: { type: 'payment_method', id: newest.id },
        before: { id: sut.id },
        after: { id: newest.id, is_default: true },
      });
      // A purchase without a card id is charged to it.
      const purchase = await stack.admin.post(
        `${ws.path}/purchases`,
        { amount: '10.00' },
        { 'idempotency-key': randomUUID() },
      );
      expect(purchase.body.payment_method).toMatchObject({ id: newest.id, brand: 'mastercard' });
    });

    it('removing a card that is not the default leaves the default where it is', async () => {
      const ws = await Workspace.create(stack);
      const first = await saveCard(stack, ws, 'pm_card_visa');
      const sut = await saveCard(stack, ws, 'pm_card_mastercard');

      await stack.admin.delete(`${ws.path}/payment-methods/${sut.id}`);

      expect(await listCards(ws)).toEqual([{ ...first, is_default: true }]);
    });

    it('removing the only card leaves no default, so a purchase without a card id has none', async () => {
      const ws = await Workspace.create(stack);
      const sut = await saveCard(stack, ws);
      await stack.admin.delete(`${ws.path}/payment-methods/${sut.id}`);

      const response = await stack.admin.post(
        `${ws.path}/purchases`,
        { amount: '10.00' },
        { 'idempotency-key': randomUUID() },
      );

      expectError(response, 422, 'no_payment_method');
    });
  });

  describe('another account’s SetupIntent or card', () => {
    let mine: Workspace;
    let theirs: Workspace;
    let theirCard: { id: string };
    let theirSetup: { setup_intent_id: string };

    beforeAll(async () => {
      mine = await Workspace.create(stack);
      theirs = await Workspace.create(stack);
      await saveCard(stack, mine);
      theirCard = await saveCard(stack, theirs, 'pm_card_amex');
      theirSetup = await startSetup(theirs);
      await stripe.setupIntents.confirm(theirSetup.setup_intent_id, { payment_method: 'pm_card_discover' });
    });

    it('saving their confirmed SetupIntent answers 404 setup_intent_not_found', async () => {
      const response = await stack.admin.post(`${mine.path}/payment-methods`, {
        setup_intent_id: theirSetup.setup_intent_id,
      });

      expectError(response, 404, 'setup_intent_not_found');
      expect((await listCards(mine)).map((card) => card.last4)).toEqual(['4242']);
    });

    it('making their card my default answers 404 payment_method_not_found', async () => {
      const response = await stack.admin.post(`${mine.path}/payment-methods/${theirCard.id}/default`);

      expectError(response, 404, 'payment_method_not_found');
    });

    it('removing their card answers 404 and leaves it attached to them', async () => {
      const response = await stack.admin.delete(`${mine.path}/payment-methods/${theirCard.id}`);

      expectError(response, 404, 'payment_method_not_found');
      expect((await listCards(theirs)).map((card) => card.id)).toContain(theirCard.id);
      expect((await stripe.paymentMethods.retrieve(theirCard.id)).customer).not.toBeNull();
    });

    it('buying with their card answers 404 payment_method_not_found and charges nothing', async () => {
      const response = await stack.admin.post(
        `${mine.path}/purchases`,
        { amount: '10.00', payment_method_id: theirCard.id },
        { 'idempotency-key': randomUUID() },
      );

      expectError(response, 404, 'payment_method_not_found');
      const [customer] = await customersOf(theirs.accountId);
      expect((await stripe.paymentIntents.list({ customer: customer.id })).data).toEqual([]);
    });
  });

  describe('roles', () => {
    it('a billing key may add, list, choose and remove cards', async () => {
      const ws = await Workspace.create(stack);
      const billing = ws.asKey((await ws.createKey({ role: 'billing' })).key).api;

      const first = await saveCard(stack, ws, 'pm_card_visa', billing);
      const second = await saveCard(stack, ws, 'pm_card_mastercard', billing);

      expect((await billing.get(`${ws.path}/payment-methods`)).status).toBe(200);
      expect((await billing.post(`${ws.path}/payment-methods/${second.id}/default`)).status).toBe(200);
      expect((await billing.delete(`${ws.path}/payment-methods/${first.id}`)).status).toBe(204);
    });

    it('a member key may not touch cards (403 insufficient_role)', async () => {
      const ws = await Workspace.create(stack);
      const card = await saveCard(stack, ws);
      const member = ws.asKey((await ws.createKey({ role: 'member' })).key).api;

      expectError(await member.post(`${ws.path}/payment-methods/setup-intents`), 403, 'insufficient_role');
      expectError(await member.get(`${ws.path}/payment-methods`), 403, 'insufficient_role');
      expectError(
        await member.post(`${ws.path}/payment-methods/${card.id}/default`),
        403,
        'insufficient_role',
      );
      expectError(await member.delete(`${ws.path}/payment-methods/${card.id}`), 403, 'insufficient_role');
      expect(await listCards(ws)).toEqual([card]);
    });
  });
});
