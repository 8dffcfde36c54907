import Stripe from 'stripe';
import { stripeError, StripeTestServer } from './support/stripe-test-server';

describe('stripe-server: errors, API keys and request encoding', () => {
  const server = new StripeTestServer();
  let stripe: Stripe;

  beforeAll(async () => {
    await server.start();
    stripe = server.stripe();
  });
  afterAll(() => server.stop());

  it('answers 404 resource_missing for an unknown id', async () => {
    const error = await stripeError(stripe.customers.retrieve('cus_doesnotexist'));
    expect(error).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(error).toMatchObject({
      statusCode: 404,
      code: 'resource_missing',
      param: 'id',
      message: "No such customer: 'cus_doesnotexist'",
    });
  });

  it('answers 400 resource_missing naming the parameter for an unknown referenced id', async () => {
    const error = await stripeError(
      stripe.paymentIntents.create({ amount: 1000, currency: 'usd', customer: 'cus_nope' }),
    );
    expect(error).toMatchObject({ statusCode: 400, code: 'resource_missing', param: 'customer' });
  });

  it('refuses a key that is not a test secret key with 401', async () => {
    const error = await stripeError(server.stripe('sk_live_1234567890abcdef').customers.create());
    expect(error).toBeInstanceOf(Stripe.errors.StripeAuthenticationError);
    expect(error.statusCode).toBe(401);
    expect(error.message).toContain('Invalid API Key provided');
  });

  it('refuses a request without a key with 401 in Stripe error shape', async () => {
    const response = await fetch(`${server.url}/v1/customers`);
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({
      error: {
        type: 'invalid_request_error',
        message: expect.stringContaining('You did not provide an API key'),
      },
    });
  });

  it('refuses an unknown parameter', async () => {
    const error = await stripeError(
      stripe.customers.create({ emial: 'typo@acme.test' } as unknown as Stripe.CustomerCreateParams),
    );
    expect(error).toMatchObject({ statusCode: 400, code: 'parameter_unknown', param: 'emial' });
  });

  it('refuses a missing required parameter', async () => {
    const error = await stripeError(
      stripe.paymentIntents.create({ currency: 'usd' } as Stripe.PaymentIntentCreateParams),
    );
    expect(error).toMatchObject({ statusCode: 400, code: 'parameter_missing', param: 'amount' });
  });

  it('answers 404 for an endpoint it does not implement', async () => {
    const response = await fetch(`${server.url}/v1/subscriptions`, {
      headers: { authorization: 'Bearer sk_test_x' },
    });
    expect(response.status).toBe(404);
    expect(((await response.json()) as any).error.type).toBe('invalid_request_error');
  });

  it('accepts curl-style form bodies with Basic auth, expand[] and metadata brackets', async () => {
    const response = await fetch(`${server.url}/v1/customers`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from('sk_test_curl:').toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: 'email=curl%40acme.test&metadata[purchase_id]=p%2B1&expand[]=invoice_settings.default_payment_method',
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('request-id')).toMatch(/^req_/);
    expect(await response.json()).toMatchObject({
      email: 'curl@acme.test',
      metadata: { purchase_id: 'p+1' },
    });
  });

  it('accepts payment_method_types[] of API versions before allowed_payment_method_types', async () => {
    const response = await fetch(`${server.url}/v1/payment_intents`, {
      method: 'POST',
      headers: { authorization: 'Bearer sk_test_legacy', 'stripe-version': '2024-06-20' },
      body: new URLSearchParams({ amount: '1000', currency: 'usd', 'payment_method_types[]': 'card' }),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      payment_method_types: ['card'],
      automatic_payment_methods: null,
    });
    expect(response.headers.get('stripe-version')).toBe('2024-06-20');
  });

  it('refuses a JSON body on the v1 API, which Stripe reads as form encoding only', async () => {
    const response = await fetch(`${server.url}/v1/customers`, {
      method: 'POST',
      headers: { authorization: 'Bearer sk_test_json', 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'json@acme.test' }),
    });
    expect(response.status).toBe(400);
  });

  it('clears everything on /_test/reset', async () => {
    const customer = await stripe.customers.create();
    const reset = await server.helper('POST', '/_test/reset');
    expect(reset.status).toBe(200);
    const error = await stripeError(stripe.customers.retrieve(customer.id));
    expect(error.statusCode).toBe(404);
  });
});
