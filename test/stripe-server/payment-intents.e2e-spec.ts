import { randomUUID } from 'node:crypto';
import Stripe from 'stripe';
import { stripeError, StripeTestServer } from './support/stripe-test-server';

describe('stripe-server: PaymentIntents through the official SDK', () => {
  const server = new StripeTestServer();
  let stripe: Stripe;
  let customer: Stripe.Customer;

  /** A saved card, as the product keeps them for auto-reload. */
  const savedCard = (testId: string) => stripe.paymentMethods.attach(testId, { customer: customer.id });

  const purchase = (
    paymentMethod: string,
    extra: Partial<Stripe.PaymentIntentCreateParams> = {},
    options?: Stripe.RequestOptions,
  ) =>
    stripe.paymentIntents.create(
      {
        amount: 2500,
        currency: 'usd',
        customer: customer.id,
        payment_method: paymentMethod,
        allowed_payment_method_types: ['card'],
        confirm: true,
        metadata: { purchase_id: 'pur_1' },
        description: 'Credit purchase',
        ...extra,
      },
      options,
    );

  beforeAll(async () => {
    await server.start();
    stripe = server.stripe();
    customer = await stripe.customers.create({ email: 'payer@acme.test' });
  });
  afterAll(() => server.stop());

  describe('success', () => {
    it('confirms a card payment at once: succeeded, amount_received and a latest_charge', async () => {
      const card = await savedCard('pm_card_visa');
      const sut = await purchase(card.id, { off_session: true });
      expect(sut.id).toMatch(/^pi_/);
      expect(sut.client_secret).toMatch(new RegExp(`^${sut.id}_secret_`));
      expect(sut).toMatchObject({
        object: 'payment_intent',
        status: 'succeeded',
        amount: 2500,
        amount_received: 2500,
        currency: 'usd',
        customer: customer.id,
        payment_method: card.id,
        metadata: { purchase_id: 'pur_1' },
        livemode: false,
        last_payment_error: null,
      });
      expect(sut.latest_charge).toMatch(/^ch_/);
    });

    it('records a Charge with the card details of the payment method', async () => {
      const card = await savedCard('pm_card_mastercard');
      const paymentIntent = await purchase(card.id);
      const sut = await stripe.charges.retrieve(paymentIntent.latest_charge as string);
      expect(sut).toMatchObject({
        object: 'charge',
        status: 'succeeded',
        paid: true,
        captured: true,
        amount: 2500,
        amount_refunded: 0,
        refunded: false,
        payment_intent: paymentIntent.id,
        payment_method: card.id,
        customer: customer.id,
        metadata: { purchase_id: 'pur_1' },
        payment_method_details: { type: 'card', card: { brand: 'mastercard', last4: '4444' } },
      });
    });

    it('expands latest_charge on request', async () => {
      const paymentIntent = await purchase('pm_card_visa');
      const sut = await stripe.paymentIntents.retrieve(paymentIntent.id, { expand: ['latest_charge'] });
      expect(sut.latest_charge).toMatchObject({ object: 'charge', id: paymentIntent.latest_charge });
    });

    it('goes requires_confirmation then succeeded when confirmed separately', async () => {
      const created = await stripe.paymentIntents.create({
        amount: 1000,
        currency: 'usd',
        customer: customer.id,
        payment_method: (await savedCard('pm_card_visa')).id,
        allowed_payment_method_types: ['card'],
      });
      expect(created.status).toBe('requires_confirmation');
      const sut = await stripe.paymentIntents.confirm(created.id, { off_session: true });
      expect(sut.status).toBe('succeeded');
    });

    it('creates without a payment method as requires_payment_method', async () => {
      const sut = await stripe.paymentIntents.create({
        amount: 1000,
        currency: 'usd',
        customer: customer.id,
      });
      expect(sut).toMatchObject({
        status: 'requires_payment_method',
        automatic_payment_methods: { enabled: true },
      });
    });
  });

  describe('idempotency keys', () => {
    it('replays the same PaymentIntent for the same key and parameters, without a second charge', async () => {
      const card = await savedCard('pm_card_visa');
      const key = `auto-reload-${randomUUID()}`;
      const first = await purchase(card.id, { off_session: true }, { idempotencyKey: key });
      const sut = await purchase(card.id, { off_session: true }, { idempotencyKey: key });

      expect(sut.id).toBe(first.id);
      expect(sut.latest_charge).toBe(first.latest_charge);
      expect(sut.lastResponse.headers['idempotent-replayed']).toBe('true');
      expect(first.lastResponse.headers['idempotent-replayed']).toBeUndefined();
      const charges = await stripe.charges.list({ payment_intent: first.id });
      expect(charges.data).toHaveLength(1);
    });

    it('refuses the same key with different parameters', async () => {
      const card = await savedCard('pm_card_visa');
      const key = randomUUID();
      await purchase(card.id, {}, { idempotencyKey: key });
      const error = await stripeError(purchase(card.id, { amount: 9999 }, { idempotencyKey: key }));
      expect(error).toBeInstanceOf(Stripe.errors.StripeIdempotencyError);
      expect(error).toMatchObject({ statusCode: 400, type: 'StripeIdempotencyError' });
    });

    it('forgets a key expired by the test helper, as Stripe does after 24 hours: the same request runs again', async () => {
      const card = await savedCard('pm_card_visa');
      const key = randomUUID();
      const first = await purchase(card.id, {}, { idempotencyKey: key });

      const expired = await server.helper('POST', '/_test/idempotency_keys/expire', { key });
      const sut = await purchase(card.id, {}, { idempotencyKey: key });

      expect(expired).toEqual({ status: 200, body: { key, expired: true } });
      expect(sut.id).not.toBe(first.id);
      expect(sut.lastResponse.headers['idempotent-replayed']).toBeUndefined();
      expect(await server.helper('POST', '/_test/idempotency_keys/expire', { key: 'never-used' })).toEqual({
        status: 200,
        body: { key: 'never-used', expired: false },
      });
    });

    it('replays a declined attempt as the same 402, so a retry cannot charge twice', async () => {
      const key = randomUUID();
      const first = await stripeError(purchase('pm_card_chargeDeclined', {}, { idempotencyKey: key }));
      const sut = await stripeError(purchase('pm_card_chargeDeclined', {}, { idempotencyKey: key }));
      expect(sut.payment_intent!.id).toBe(first.payment_intent!.id);
      expect(sut.headers!['idempotent-replayed']).toBe('true');
    });
  });

  describe('declines', () => {
    it('throws StripeCardError with decline_code and leaves the intent requires_payment_method', async () => {
      const error = await stripeError(purchase('pm_card_chargeDeclined'));
      expect(error).toBeInstanceOf(Stripe.errors.StripeCardError);
      expect(error).toMatchObject({
        statusCode: 402,
        code: 'card_declined',
        decline_code: 'generic_decline',
        message: 'Your card was declined.',
      });
      const declined = error.payment_intent!;
      expect(declined).toMatchObject({
        status: 'requires_payment_method',
        payment_method: null,
        last_payment_error: { type: 'card_error', code: 'card_declined', decline_code: 'generic_decline' },
      });
      const reread = await stripe.paymentIntents.retrieve(declined.id);
      expect(reread.status).toBe('requires_payment_method');
      const charge = await stripe.charges.retrieve(reread.latest_charge as string);
      expect(charge).toMatchObject({ status: 'failed', paid: false, failure_code: 'card_declined' });
    });

    it('declines with insufficient_funds', async () => {
      const error = await stripeError(purchase('pm_card_chargeDeclinedInsufficientFunds'));
      expect(error).toMatchObject({ code: 'card_declined', decline_code: 'insufficient_funds' });
    });

    it('declines an expired card with code expired_card', async () => {
      const error = await stripeError(purchase('pm_card_chargeDeclinedExpiredCard'));
      expect(error).toMatchObject({ code: 'expired_card', decline_code: 'expired_card' });
    });

    it('declines off-session charges of a saved chargeCustomerFail card', async () => {
      const card = await savedCard('pm_card_chargeCustomerFail');
      const error = await stripeError(purchase(card.id, { off_session: true }));
      expect(error).toMatchObject({ code: 'card_declined', decline_code: 'generic_decline' });
    });

    it('lets a declined intent be confirmed again with another card', async () => {
      const error = await stripeError(purchase('pm_card_chargeDeclined'));
      const sut = await stripe.paymentIntents.confirm(error.payment_intent!.id, {
        payment_method: 'pm_card_visa',
      });
      expect(sut.status).toBe('succeeded');
    });
  });

  describe('card authentication (3D Secure)', () => {
    it('asks for authentication on-session, and succeeds once the customer completes it', async () => {
      const sut = await purchase('pm_card_authenticationRequired');
      expect(sut).toMatchObject({ status: 'requires_action', next_action: { type: 'use_stripe_sdk' } });

      const completed = await server.helper('POST', `/_test/payment_intents/${sut.id}/authenticate`, {
        outcome: 'succeed',
      });
      expect(completed.status).toBe(200);
      const reread = await stripe.paymentIntents.retrieve(sut.id, { expand: ['latest_charge'] });
      expect(reread.status).toBe('succeeded');
      expect(
        (reread.latest_charge as Stripe.Charge).payment_method_details!.card!.three_d_secure,
      ).toMatchObject({
        result: 'authenticated',
      });
    });

    it('returns to requires_payment_method when the customer fails authentication', async () => {
      const sut = await purchase('pm_card_authenticationRequired');
      await server.helper('POST', `/_test/payment_intents/${sut.id}/authenticate`, { outcome: 'fail' });
      const reread = await stripe.paymentIntents.retrieve(sut.id);
      expect(reread).toMatchObject({
        status: 'requires_payment_method',
        last_payment_error: { code: 'payment_intent_authentication_failure' },
      });
    });

    it('fails off-session with authentication_required', async () => {
      const card = await savedCard('pm_card_authenticationRequired');
      const error = await stripeError(purchase(card.id, { off_session: true }));
      expect(error).toBeInstanceOf(Stripe.errors.StripeCardError);
      expect(error).toMatchObject({
        code: 'authentication_required',
        decline_code: 'authentication_required',
        payment_intent: { status: 'requires_payment_method' },
      });
    });
  });

  describe('state rules', () => {
    it('cancels an unpaid intent', async () => {
      const created = await stripe.paymentIntents.create({ amount: 1000, currency: 'usd' });
      const sut = await stripe.paymentIntents.cancel(created.id, { cancellation_reason: 'abandoned' });
      expect(sut).toMatchObject({ status: 'canceled', cancellation_reason: 'abandoned' });
      expect(sut.canceled_at).toEqual(expect.any(Number));
    });

    it('refuses to cancel or confirm a succeeded intent', async () => {
      const paid = await purchase('pm_card_visa');
      const cancelError = await stripeError(stripe.paymentIntents.cancel(paid.id));
      const confirmError = await stripeError(stripe.paymentIntents.confirm(paid.id));
      expect(cancelError).toMatchObject({ statusCode: 400, code: 'payment_intent_unexpected_state' });
      expect(confirmError).toMatchObject({ statusCode: 400, code: 'payment_intent_unexpected_state' });
    });

    it('updates amount and metadata before confirmation, keeping the status', async () => {
      const created = await stripe.paymentIntents.create({
        amount: 1000,
        currency: 'usd',
        payment_method: 'pm_card_visa',
        metadata: { purchase_id: 'a', keep: 'yes' },
      });
      const sut = await stripe.paymentIntents.update(created.id, {
        amount: 1500,
        metadata: { purchase_id: 'b', keep: '' },
      });
      expect(sut).toMatchObject({
        amount: 1500,
        status: 'requires_confirmation',
        metadata: { purchase_id: 'b' },
      });
      expect(sut.metadata).not.toHaveProperty('keep');
    });

    it('refuses an amount below the minimum charge', async () => {
      const error = await stripeError(stripe.paymentIntents.create({ amount: 49, currency: 'usd' }));
      expect(error).toMatchObject({ statusCode: 400, code: 'amount_too_small', param: 'amount' });
    });

    it("refuses another customer's card", async () => {
      const other = await stripe.customers.create();
      const card = await stripe.paymentMethods.attach('pm_card_visa', { customer: other.id });
      const error = await stripeError(purchase(card.id));
      expect(error).toMatchObject({ statusCode: 400, param: 'payment_method' });
    });
  });
});
