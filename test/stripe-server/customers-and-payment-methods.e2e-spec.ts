import Stripe from 'stripe';
import { stripeError, StripeTestServer } from './support/stripe-test-server';

describe('stripe-server: customers and payment methods through the official SDK', () => {
  const server = new StripeTestServer();
  let stripe: Stripe;

  beforeAll(async () => {
    await server.start();
    stripe = server.stripe();
  });
  afterAll(() => server.stop());

  it('creates a customer with Stripe ids, timestamps and metadata, and reads it back', async () => {
    const before = Math.floor(Date.now() / 1000);
    const sut = await stripe.customers.create({
      email: 'owner@acme.test',
      name: 'Acme AI',
      metadata: { account_id: 'acc_1' },
      address: { country: 'US', postal_code: '94103', state: 'CA' },
    });
    expect(sut).toMatchObject({
      object: 'customer',
      livemode: false,
      email: 'owner@acme.test',
      metadata: { account_id: 'acc_1' },
      address: { country: 'US', postal_code: '94103', state: 'CA', city: null },
      invoice_settings: { default_payment_method: null },
    });
    expect(sut.id).toMatch(/^cus_[A-Za-z0-9]{24}$/);
    expect(sut.created).toBeGreaterThanOrEqual(before);
    expect(sut.created).toBeLessThan(before + 5);
    expect(await stripe.customers.retrieve(sut.id)).toEqual(sut);
  });

  it('attaches pm_card_visa as a new PaymentMethod with the card details', async () => {
    const customer = await stripe.customers.create();
    const sut = await stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id });
    expect(sut.id).toMatch(/^pm_[A-Za-z0-9]{24}$/);
    expect(sut).toMatchObject({
      object: 'payment_method',
      type: 'card',
      customer: customer.id,
      livemode: false,
      card: { brand: 'visa', last4: '4242', funding: 'credit', country: 'US', exp_month: 12 },
    });
    expect(sut.card!.exp_year).toBeGreaterThan(new Date().getUTCFullYear());
  });

  it('lists a customer card with brand, last4 and expiry through both list endpoints', async () => {
    const customer = await stripe.customers.create();
    const visa = await stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id });
    const mastercard = await stripe.paymentMethods.attach('pm_card_mastercard', { customer: customer.id });
    const amex = await stripe.paymentMethods.attach('pm_card_amex', { customer: customer.id });

    const viaCustomer = await stripe.customers.listPaymentMethods(customer.id, { type: 'card' });
    const viaPaymentMethods = await stripe.paymentMethods.list({ customer: customer.id, type: 'card' });

    expect(viaCustomer).toMatchObject({
      object: 'list',
      has_more: false,
      url: `/v1/customers/${customer.id}/payment_methods`,
    });
    expect(viaCustomer.data.map((pm) => [pm.id, pm.card!.brand, pm.card!.last4])).toEqual([
      [amex.id, 'amex', '0005'],
      [mastercard.id, 'mastercard', '4444'],
      [visa.id, 'visa', '4242'],
    ]);
    expect(viaPaymentMethods.data.map((pm) => pm.id)).toEqual(viaCustomer.data.map((pm) => pm.id));
  });

  it('pages a list with limit and starting_after', async () => {
    const customer = await stripe.customers.create();
    for (let index = 0; index < 3; index++)
      await stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id });
    const first = await stripe.customers.listPaymentMethods(customer.id, { limit: 2 });
    const second = await stripe.customers.listPaymentMethods(customer.id, {
      limit: 2,
      starting_after: first.data[1].id,
    });
    expect(first.has_more).toBe(true);
    expect(second.has_more).toBe(false);
    expect(second.data).toHaveLength(1);
  });

  it('sets the default payment method and expands it on retrieve', async () => {
    const customer = await stripe.customers.create();
    const card = await stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id });
    const updated = await stripe.customers.update(customer.id, {
      invoice_settings: { default_payment_method: card.id },
    });
    expect(updated.invoice_settings.default_payment_method).toBe(card.id);
    const expanded = (await stripe.customers.retrieve(customer.id, {
      expand: ['invoice_settings.default_payment_method'],
    })) as Stripe.Customer;
    expect(expanded.invoice_settings.default_payment_method).toMatchObject({
      id: card.id,
      object: 'payment_method',
    });
  });

  it('refuses a default payment method that is not attached to the customer', async () => {
    const customer = await stripe.customers.create();
    const other = await stripe.customers.create();
    const card = await stripe.paymentMethods.attach('pm_card_visa', { customer: other.id });
    const error = await stripeError(
      stripe.customers.update(customer.id, { invoice_settings: { default_payment_method: card.id } }),
    );
    expect(error).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(error.param).toBe('invoice_settings[default_payment_method]');
  });

  it('detaches a card: gone from the list, no longer the default, and not usable again', async () => {
    const customer = await stripe.customers.create();
    const card = await stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id });
    await stripe.customers.update(customer.id, { invoice_settings: { default_payment_method: card.id } });

    const detached = await stripe.paymentMethods.detach(card.id);

    expect(detached.customer).toBeNull();
    expect((await stripe.customers.listPaymentMethods(customer.id)).data).toEqual([]);
    const reread = (await stripe.customers.retrieve(customer.id)) as Stripe.Customer;
    expect(reread.invoice_settings.default_payment_method).toBeNull();
    const error = await stripeError(stripe.paymentMethods.attach(card.id, { customer: customer.id }));
    expect(error.code).toBe('payment_method_unexpected_state');
  });

  it('refuses to attach a card the issuer declines, but attaches chargeCustomerFail', async () => {
    const customer = await stripe.customers.create();
    const error = await stripeError(
      stripe.paymentMethods.attach('pm_card_chargeDeclined', { customer: customer.id }),
    );
    expect(error).toBeInstanceOf(Stripe.errors.StripeCardError);
    expect(error).toMatchObject({ statusCode: 402, code: 'card_declined', decline_code: 'generic_decline' });

    const failing = await stripe.paymentMethods.attach('pm_card_chargeCustomerFail', {
      customer: customer.id,
    });
    expect(failing.customer).toBe(customer.id);
  });

  it('creates a card PaymentMethod from a test token and a test card number', async () => {
    const fromToken = await stripe.paymentMethods.create({ type: 'card', card: { token: 'tok_mastercard' } });
    const fromNumber = await stripe.paymentMethods.create({
      type: 'card',
      card: { number: '4000056655665556', exp_month: 4, exp_year: 2031, cvc: '123' },
      billing_details: { name: 'Ada Lovelace', address: { country: 'GB' } },
    });
    expect(fromToken.card).toMatchObject({ brand: 'mastercard', last4: '4444' });
    expect(fromNumber.card).toMatchObject({
      brand: 'visa',
      last4: '5556',
      funding: 'debit',
      exp_month: 4,
      exp_year: 2031,
    });
    expect(fromNumber.billing_details).toMatchObject({ name: 'Ada Lovelace', address: { country: 'GB' } });
  });

  it('gives the same fingerprint to the same test card saved twice', async () => {
    const customer = await stripe.customers.create();
    const first = await stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id });
    const second = await stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id });
    expect(first.id).not.toBe(second.id);
    expect(first.card!.fingerprint).toBe(second.card!.fingerprint);
  });

  it('deletes a customer, after which retrieve answers deleted: true', async () => {
    const customer = await stripe.customers.create();
    expect(await stripe.customers.del(customer.id)).toEqual({
      id: customer.id,
      object: 'customer',
      deleted: true,
    });
    expect(await stripe.customers.retrieve(customer.id)).toMatchObject({ id: customer.id, deleted: true });
  });
});
