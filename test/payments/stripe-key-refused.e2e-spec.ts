import { randomUUID } from 'node:crypto';
import { ApiClient } from '../support/api-client';
import { AppProcess } from '../support/app-process';
import { BillingStack } from '../support/billing-stack';
import { saveCard } from '../support/cards';
import { waitFor } from '../support/wait-for';
import { Workspace } from '../support/workspace';
import { logLines } from '../support/json-logs';

/** A Stripe secret or restricted key, even masked (a bare "sk_" also matches stack frames: task_queues). */
const SECRET_KEY = /\b(sk|rk)_(live|test)_/;

/** A live key the stripe-server refuses, as Stripe refuses a rolled or revoked one. */
const REFUSED_KEY = 'sk_live_rolled0123456789abcdefWXYZ';

/**
 * Stripe refusing our secret key is our fault, not the client's: the answer is 503
 * payment_provider_unavailable (never Stripe's 401, which reads as "your token is wrong", nor its
 * message, which names part of our key), and one error line tells ops which setting to fix.
 */
describe('an api whose Stripe key is refused', () => {
  const stack = new BillingStack({ workers: 0, stripe: true });
  let refused: AppProcess;
  let refusedAdmin: ApiClient;

  beforeAll(async () => {
    await stack.start();
    refused = await new AppProcess('api', { ...stack.appEnv, STRIPE_SECRET_KEY: REFUSED_KEY }).start();
    refusedAdmin = new ApiClient(refused.url).admin();
  });

  afterAll(async () => {
    await refused?.stop();
    await stack.stop();
  });

  it('answers a purchase 503 payment_provider_unavailable, logs why once without the key, and charges once when retried', async () => {
    const ws = await Workspace.create(stack);
    await saveCard(stack, ws);
    const key = randomUUID();

    const sut = await refusedAdmin.post(
      `${ws.path}/purchases`,
      { amount: '10.00' },
      { 'idempotency-key': key },
    );

    expect({ status: sut.status, code: sut.body?.error?.code }).toEqual({
      status: 503,
      code: 'payment_provider_unavailable',
    });
    expect(JSON.stringify(sut.body)).not.toMatch(SECRET_KEY);
    const errors = await waitFor(
      async () => logLines(refused.output).filter((line) => line.level >= 50),
      (lines) => lines.some((line) => line.res?.statusCode === 503),
      { what: 'the refused purchase to be logged' },
    );
    const explained = errors.filter((line) => line.context === 'HttpError');
    expect(explained).toHaveLength(1);
    expect(explained[0].msg).toContain(`POST ${ws.path}/purchases`);
    expect(explained[0].msg).toContain('STRIPE_SECRET_KEY');
    expect(refused.output).not.toMatch(SECRET_KEY);

    // Once the key is fixed, the client's retry with its Idempotency-Key makes the one charge.
    const retried = await stack.admin.post(
      `${ws.path}/purchases`,
      { amount: '10.00' },
      { 'idempotency-key': key },
    );
    expect(retried).toMatchObject({ status: 201, body: { status: 'succeeded', balance: '10.000000' } });
    const [{ stripe_customer_id: customer }] = await stack.stores.sql<{ stripe_customer_id: string }[]>`
      select stripe_customer_id from accounts where id = ${ws.accountId}`;
    expect((await stack.stripeClient().paymentIntents.list({ customer })).data).toHaveLength(1);
  });

  it('answers the other payment routes the same way (adding a card)', async () => {
    const ws = await Workspace.create(stack);

    const sut = await refusedAdmin.post(`${ws.path}/payment-methods/setup-intents`);

    expect({ status: sut.status, code: sut.body?.error?.code }).toEqual({
      status: 503,
      code: 'payment_provider_unavailable',
    });
    expect(JSON.stringify(sut.body)).not.toMatch(SECRET_KEY);
    expect(refused.output).not.toMatch(SECRET_KEY);
  });
});
