import { ApiError } from '@app/http';
import { CallHandler, ExecutionContext } from '@nestjs/common';
import { firstValueFrom, throwError } from 'rxjs';
import Stripe from 'stripe';
import { apiErrorForStripe, StripeErrorsInterceptor } from './stripe-errors';

/** A Stripe secret or restricted key, even masked (a bare "sk_" also matches stack frames: task_queues). */
const SECRET_KEY = /\b(sk|rk)_(live|test)_/;

const KEY_MESSAGE = 'Invalid API Key provided: sk_live_************************1234';

/** What a client and a log would see of the mapped error. */
function seen(error: ApiError | null) {
  return error && { status: error.getStatus(), body: error.getResponse(), headers: error.headers };
}

describe('apiErrorForStripe', () => {
  it.each([
    [
      'a refused key',
      new Stripe.errors.StripeAuthenticationError({
        message: KEY_MESSAGE,
        code: 'api_key_invalid',
        statusCode: 401,
        requestId: 'req_1',
      }),
    ],
    [
      'a key without a permission',
      new Stripe.errors.StripePermissionError({
        message: `${KEY_MESSAGE} lacks a permission`,
        statusCode: 403,
      }),
    ],
  ])('answers %s with 503 payment_provider_unavailable, without Stripe’s message', (_, error) => {
    const sut = apiErrorForStripe(error);

    expect(seen(sut)).toEqual({
      status: 503,
      body: { error: { code: 'payment_provider_unavailable', message: expect.any(String) } },
      headers: {},
    });
    expect(JSON.stringify(sut!.getResponse())).not.toMatch(SECRET_KEY);
    expect(sut!.logDetail).toContain('STRIPE_SECRET_KEY');
    expect(sut!.logDetail).not.toMatch(SECRET_KEY);
  });

  it.each([
    ['rate limited', new Stripe.errors.StripeRateLimitError({ message: 'slow down', statusCode: 429 })],
    ['failing', new Stripe.errors.StripeAPIError({ message: 'oops', statusCode: 500 })],
    ['unreachable', new Stripe.errors.StripeConnectionError({ message: 'socket hang up' })],
  ])('answers Stripe %s with 503 payment_provider_unavailable and Retry-After', (_, error) => {
    expect(seen(apiErrorForStripe(error))).toEqual({
      status: 503,
      body: { error: { code: 'payment_provider_unavailable', message: expect.any(String) } },
      headers: { 'retry-after': '30' },
    });
  });

  it.each([
    ['a missing PaymentMethod', { code: 'resource_missing', param: 'payment_method' }],
    ['a PaymentMethod in the wrong state', { code: 'payment_method_unexpected_state' }],
  ])('answers %s with 422 payment_method_unusable', (_, raw) => {
    const error = new Stripe.errors.StripeInvalidRequestError({
      message: "No such PaymentMethod: 'pm_123'",
      statusCode: 400,
      ...raw,
    });

    expect(seen(apiErrorForStripe(error))).toEqual({
      status: 422,
      body: { error: { code: 'payment_method_unusable', message: expect.any(String) } },
      headers: {},
    });
  });

  it('answers a card error with 402 and its decline code', () => {
    const error = new Stripe.errors.StripeCardError({
      message: 'Your card was declined.',
      code: 'card_declined',
      decline_code: 'insufficient_funds',
      statusCode: 402,
    });

    expect(seen(apiErrorForStripe(error))).toMatchObject({
      status: 402,
      body: { error: { code: 'card_declined' }, decline_code: 'insufficient_funds' },
    });
  });

  it('leaves our own invalid requests (an unknown customer) unexpected', () => {
    const error = new Stripe.errors.StripeInvalidRequestError({
      message: "No such customer: 'cus_123'",
      code: 'resource_missing',
      param: 'customer',
      statusCode: 404,
    });

    expect(apiErrorForStripe(error)).toBeNull();
  });
});

describe('StripeErrorsInterceptor', () => {
  const sut = new StripeErrorsInterceptor();
  const failingWith = (error: unknown): CallHandler => ({ handle: () => throwError(() => error) });
  /** What the route's caller receives: the error the interceptor let through or made. */
  const run = (error: unknown): Promise<unknown> =>
    firstValueFrom(sut.intercept({} as ExecutionContext, failingWith(error))).catch(
      (thrown: unknown) => thrown,
    );

  it('turns a Stripe error into its answer', async () => {
    const thrown = await run(new Stripe.errors.StripeAuthenticationError({ message: KEY_MESSAGE }));

    expect(thrown).toBeInstanceOf(ApiError);
    expect((thrown as ApiError).code).toBe('payment_provider_unavailable');
  });

  it('passes other errors, and Stripe errors it does not map, through untouched', async () => {
    const plain = new Error('boom');
    const unknownCustomer = new Stripe.errors.StripeInvalidRequestError({ message: 'No such customer' });

    expect(await run(plain)).toBe(plain);
    expect(await run(unknownCustomer)).toBe(unknownCustomer);
  });
});
