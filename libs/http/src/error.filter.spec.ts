import { ArgumentsHost, Logger, PayloadTooLargeException } from '@nestjs/common';
import postgres from 'postgres';
import Stripe from 'stripe';
import { createS3Client, ObjectStorage } from '@app/storage';
import { freePort } from '../../../test/support/app-process';
import { PG_ADMIN_URL } from '../../../test/support/test-stores';
import { ApiError } from './api-error';
import { ErrorFilter } from './error.filter';

/** A Stripe secret or restricted key, even masked (a bare "sk_" also matches stack frames: task_queues). */
const SECRET_KEY = /\b(sk|rk)_(live|test)_/;

/** The filter's answer to `exception`, and what it logged at error level. */
function answer(exception: unknown) {
  const reply = {
    status: 0,
    headers: {} as Record<string, string>,
    body: undefined as unknown,
  };
  const fastifyReply = {
    header: (name: string, value: string) => (reply.headers[name] = value),
    status(code: number) {
      reply.status = code;
      return this;
    },
    send: (body: unknown) => (reply.body = body),
  };
  const host = {
    switchToHttp: () => ({
      getResponse: () => fastifyReply,
      getRequest: () => ({ method: 'POST', url: '/v1/accounts/a/purchases', id: 'req-1' }),
    }),
  } as unknown as ArgumentsHost;
  const logged = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
  try {
    new ErrorFilter().catch(exception, host);
    return { ...reply, logged: logged.mock.calls.map((call) => String(call[0])) };
  } finally {
    logged.mockRestore();
  }
}

describe('ErrorFilter', () => {
  const sql = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => undefined });

  afterAll(() => sql.end({ timeout: 5 }));

  /** What a statement of `run` rejected with, as Postgres and postgres.js produced it. */
  async function databaseError(run: (tx: postgres.TransactionSql) => Promise<unknown>): Promise<unknown> {
    try {
      await sql.begin(run);
    } catch (error) {
      return error;
    }
    throw new Error('expected the statement to fail');
  }

  it('answers a transient database failure 503 unavailable with Retry-After: 1 and logs it as one', async () => {
    const timedOut = await databaseError(async (tx) => {
      await tx`set local statement_timeout = 20`;
      await tx`select pg_sleep(5)`;
    });

    const sut = answer(timedOut);

    expect(sut).toMatchObject({
      status: 503,
      headers: { 'Retry-After': '1' },
      body: { error: { code: 'unavailable', message: expect.stringContaining('database') } },
    });
    expect(sut.logged).toHaveLength(1);
    expect(sut.logged[0]).toContain(
      'POST /v1/accounts/a/purchases (req-1): transient database failure (57014 query_canceled), ' +
        'answered 503 with Retry-After: 1: PostgresError: canceling statement due to statement timeout',
    );
  });

  it('answers object storage refusing the connection 503 unavailable, naming object storage (not Redis)', async () => {
    const options = {
      endpoint: `http://127.0.0.1:${await freePort()}`,
      region: 'us-east-1',
      bucket: 'billing',
      accessKeyId: 'test',
      secretAccessKey: 'test',
      forcePathStyle: true,
      connectTimeoutMs: 1_000,
      requestTimeoutMs: 1_000,
    };
    const refused = await new ObjectStorage(createS3Client(options), options)
      .put('exemptions/a.pdf', Buffer.from('%PDF'), 'application/pdf')
      .then(
        () => null,
        (error: unknown) => error,
      );

    const sut = answer(refused);

    expect(sut).toMatchObject({
      status: 503,
      headers: { 'Retry-After': '1' },
      body: { error: { code: 'unavailable', message: expect.stringContaining('object storage') } },
    });
    expect(sut.logged).toHaveLength(1);
    expect(sut.logged[0]).toContain('object storage unreachable');
    expect(sut.logged[0]).not.toContain('Redis');
  });

  it('answers a database error a retry cannot fix (division by zero) 500 internal', async () => {
    const divisionByZero = await databaseError((tx) => tx`select 1 / 0`);

    expect(answer(divisionByZero)).toMatchObject({
      status: 500,
      headers: {},
      body: { error: { code: 'internal', message: 'internal error' } },
    });
  });

  it('passes the status of Fastify’s own errors through with a stable code', () => {
    const tooLarge = Object.assign(new Error('request file too large'), {
      code: 'FST_REQ_FILE_TOO_LARGE',
      statusCode: 413,
    });

    expect(answer(tooLarge)).toMatchObject({
      status: 413,
      body: { error: { code: 'payload_too_large', message: 'request file too large' } },
      logged: [],
    });
    expect(answer(new PayloadTooLargeException())).toMatchObject({
      status: 413,
      body: { error: { code: 'payload_too_large' } },
    });
  });

  it('answers another library’s 4xx error as an unexpected 500 and logs it, its secret key redacted', () => {
    const stripeKeyRefused = new Stripe.errors.StripeAuthenticationError({
      message: 'Invalid API Key provided: sk_live_************************1234',
      statusCode: 401,
    });

    const sut = answer(stripeKeyRefused);

    expect(sut).toMatchObject({
      status: 500,
      body: { error: { code: 'internal', message: 'internal error' } },
    });
    expect(sut.logged).toHaveLength(1);
    expect(sut.logged[0]).toContain('POST /v1/accounts/a/purchases (req-1)');
    expect(sut.logged[0]).toContain('Invalid API Key provided: [redacted key]');
    expect(sut.logged[0]).not.toMatch(SECRET_KEY);
  });

  it('answers a statusCode without a Fastify code (Stripe’s 404 for our customer) as 500', () => {
    const noSuchCustomer = Object.assign(new Error("No such customer: 'cus_123'"), { statusCode: 404 });

    expect(answer(noSuchCustomer)).toMatchObject({ status: 500, body: { error: { code: 'internal' } } });
  });

  it('logs a 5xx ApiError’s log detail, not its stack, and sends its headers', () => {
    const error = new ApiError(
      503,
      'payment_provider_unavailable',
      'try later',
      {},
      { 'retry-after': '30' },
      'why',
    );

    expect(answer(error)).toEqual({
      status: 503,
      headers: { 'retry-after': '30' },
      body: { error: { code: 'payment_provider_unavailable', message: 'try later' } },
      logged: ['POST /v1/accounts/a/purchases (req-1): why'],
    });
  });
});
