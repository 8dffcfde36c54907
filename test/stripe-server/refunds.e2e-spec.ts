import Stripe from 'stripe';
import { stripeError, StripeTestServer } from './support/stripe-test-server';

describe('stripe-server: refunds through the official SDK', () => {
  const server = new StripeTestServer();
  let stripe: Stripe;

  const paidIntent = () =>
    stripe.paymentIntents.create({
      amount: 5000,
      currency: 'usd',
      payment_method: 'pm_card_visa',
      allowed_payment_method_types: ['card'],
      confirm: true,
    });

  beforeAll(async () => {
    await server.start();
    stripe = server.stripe();
  });
  afterAll(() => server.stop());

  it('refunds part, then the rest, and keeps the charge totals', async () => {
    const paymentIntent = await paidIntent();

    const partial = await stripe.refunds.create({
      payment_intent: paymentIntent.id,
      amount: 1500,
      metadata: { reason_code: 'goodwill' },
    });
    const afterPartial = await stripe.charges.retrieve(paymentIntent.latest_charge as string);
    const rest = await stripe.refunds.create({ payment_intent: paymentIntent.id });
    const afterFull = await stripe.charges.retrieve(paymentIntent.latest_charge as string);

    expect(partial).toMatchObject({
      object: 'refund',
      amount: 1500,
      status: 'succeeded',
      payment_intent: paymentIntent.id,
      charge: paymentIntent.latest_charge,
      metadata: { reason_code: 'goodwill' },
    });
    expect(partial.id).toMatch(/^re_/);
    expect(afterPartial).toMatchObject({ amount_refunded: 1500, refunded: false });
    expect(rest.amount).toBe(3500);
    expect(afterFull).toMatchObject({ amount_refunded: 5000, refunded: true });
    expect(await stripe.refunds.retrieve(partial.id)).toEqual(partial);
  });

  it('refunds by charge id', async () => {
    const paymentIntent = await paidIntent();
    const sut = await stripe.refunds.create({ charge: paymentIntent.latest_charge as string, amount: 100 });
    expect(sut).toMatchObject({ amount: 100, payment_intent: paymentIntent.id });
  });

  it('refuses to refund more than what is left', async () => {
    const paymentIntent = await paidIntent();
    await stripe.refunds.create({ payment_intent: paymentIntent.id, amount: 4000 });
    const error = await stripeError(
      stripe.refunds.create({ payment_intent: paymentIntent.id, amount: 1001 }),
    );
    expect(error).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(error).toMatchObject({ statusCode: 400, param: 'amount', code: 'amount_too_large' });
  });

  it('refuses a refund of a fully refunded charge', async () => {
    const paymentIntent = await paidIntent();
    await stripe.refunds.create({ payment_intent: paymentIntent.id });
    const error = await stripeError(stripe.refunds.create({ payment_intent: paymentIntent.id }));
    expect(error).toMatchObject({ statusCode: 400, code: 'charge_already_refunded' });
  });

  it('refuses a refund of an intent that has not succeeded', async () => {
    const unpaid = await stripe.paymentIntents.create({ amount: 1000, currency: 'usd' });
    const error = await stripeError(stripe.refunds.create({ payment_intent: unpaid.id }));
    expect(error).toMatchObject({ statusCode: 400, param: 'payment_intent' });
  });

  it('fails a refund on request, as the card network does: the charge gets the amount back, and events say so', async () => {
    const paymentIntent = await paidIntent();
    const refund = await stripe.refunds.create({ payment_intent: paymentIntent.id, amount: 2000 });

    const failed = await server.helper('POST', `/_test/refunds/${refund.id}/fail`);
    expect(failed).toMatchObject({
      status: 200,
      body: { id: refund.id, status: 'failed', failure_reason: 'expired_or_canceled_card' },
    });
    expect(await stripe.refunds.retrieve(refund.id)).toMatchObject({ status: 'failed' });
    expect(await stripe.charges.retrieve(paymentIntent.latest_charge as string)).toMatchObject({
      amount_refunded: 0,
      refunded: false,
    });
    const events = (await stripe.events.list({ limit: 10 })).data.filter(
      (event) => (event.data.object as Stripe.Refund).id === refund.id && event.type !== 'refund.created',
    );
    expect(events.map((event) => [event.type, event.data.previous_attributes]).sort()).toEqual([
      ['refund.failed', { status: 'succeeded', failure_reason: null }],
      ['refund.updated', { status: 'succeeded', failure_reason: null }],
    ]);
    // All of it can be refunded again; a failed refund cannot fail twice.
    expect((await stripe.refunds.create({ payment_intent: paymentIntent.id })).amount).toBe(5000);
    expect((await server.helper('POST', `/_test/refunds/${refund.id}/fail`)).status).toBe(400);
  });
});
