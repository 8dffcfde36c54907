import Stripe from 'stripe';
import { stripeError, StripeTestServer } from './support/stripe-test-server';

describe('stripe-server: SetupIntents through the official SDK', () => {
  const server = new StripeTestServer();
  let stripe: Stripe;
  let customer: Stripe.Customer;

  const setUp = (params: Partial<Stripe.SetupIntentCreateParams> = {}) =>
    stripe.setupIntents.create({
      customer: customer.id,
      allowed_payment_method_types: ['card'],
      usage: 'off_session',
      ...params,
    });

  beforeEach(async () => {
    await server.start();
    stripe = server.stripe();
    customer = await stripe.customers.create();
  });
  afterEach(() => server.stop());

  it('creates then confirms: requires_payment_method → succeeded, card attached to the customer', async () => {
    const created = await setUp();
    expect(created).toMatchObject({
      object: 'setup_intent',
      status: 'requires_payment_method',
      usage: 'off_session',
    });
    expect(created.client_secret).toMatch(new RegExp(`^${created.id}_secret_`));
    expect(created.id).toMatch(/^seti_/);

    const sut = await stripe.setupIntents.confirm(created.id, { payment_method: 'pm_card_visa' });

    expect(sut.status).toBe('succeeded');
    const paymentMethod = await stripe.paymentMethods.retrieve(sut.payment_method as string);
    expect(paymentMethod).toMatchObject({ customer: customer.id, card: { brand: 'visa', last4: '4242' } });
  });

  it('creates and confirms in one call', async () => {
    const sut = await setUp({ payment_method: 'pm_card_mastercard', confirm: true });
    expect(sut.status).toBe('succeeded');
    const cards = await stripe.customers.listPaymentMethods(customer.id);
    expect(cards.data.map((card) => card.id)).toEqual([sut.payment_method]);
  });

  it('asks for authentication for a 3DS card, then succeeds through the test helper', async () => {
    const sut = await setUp({ payment_method: 'pm_card_authenticationRequired', confirm: true });
    expect(sut).toMatchObject({ status: 'requires_action', next_action: { type: 'use_stripe_sdk' } });
    expect((await stripe.customers.listPaymentMethods(customer.id)).data).toEqual([]);

    const completed = await server.helper('POST', `/_test/setup_intents/${sut.id}/authenticate`, {
      outcome: 'succeed',
    });

    expect(completed.body.status).toBe('succeeded');
    expect((await stripe.customers.listPaymentMethods(customer.id)).data).toHaveLength(1);
  });

  it('reports a failed authentication in last_setup_error', async () => {
    const sut = await setUp({ payment_method: 'pm_card_authenticationRequired', confirm: true });
    await server.helper('POST', `/_test/setup_intents/${sut.id}/authenticate`, { outcome: 'fail' });
    expect(await stripe.setupIntents.retrieve(sut.id)).toMatchObject({
      status: 'requires_payment_method',
      last_setup_error: { code: 'setup_intent_authentication_failure' },
    });
  });

  it('fails with a card error for a card the issuer declines', async () => {
    const error = await stripeError(setUp({ payment_method: 'pm_card_chargeDeclined', confirm: true }));
    expect(error).toBeInstanceOf(Stripe.errors.StripeCardError);
    expect(error).toMatchObject({ code: 'card_declined', decline_code: 'generic_decline' });
    expect(error.setup_intent).toMatchObject({ status: 'requires_payment_method' });
  });

  it('lets off-session payments skip 3DS once a SetupIntent authenticated an authenticationRequiredOnSetup card', async () => {
    const setup = await setUp({ payment_method: 'pm_card_authenticationRequiredOnSetup', confirm: true });
    expect(setup.status).toBe('requires_action');
    await server.helper('POST', `/_test/setup_intents/${setup.id}/authenticate`, { outcome: 'succeed' });

    const sut = await stripe.paymentIntents.create({
      amount: 2000,
      currency: 'usd',
      customer: customer.id,
      payment_method: setup.payment_method as string,
      confirm: true,
      off_session: true,
    });

    expect(sut.status).toBe('succeeded');
  });
});
