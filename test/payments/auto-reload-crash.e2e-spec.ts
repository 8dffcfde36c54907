import { QueueName } from '@app/queue';
import type { Queue } from 'bullmq';
import { randomUUID } from 'node:crypto';
import Stripe from 'stripe';
import { AppProcess } from '../support/app-process';
import { BillingStack } from '../support/billing-stack';
import { saveCard } from '../support/cards';
import { openStackQueue, outstandingJobs } from '../support/payments-queue';
import { waitFor } from '../support/wait-for';
import { Workspace } from '../support/workspace';

/** 1,000 USD per million prompt tokens: one prompt token costs 1,000 micros, so $1 is 1,000 tokens. */
const MODEL = 'test/auto-reload-crash-model';
const TOKENS_PER_USD = 1000;
const AMOUNT = 20_000_000n;
/** A short job lock, so BullMQ's own stalled-job check hands the dead worker's charge to the new one within seconds. */
const LOCK_MS = '2000';

/**
 * Judged c: the worker charging an auto-reload is killed (SIGKILL, FAILPOINT=after-charge) after
 * the PaymentIntent succeeded and before the credit is recorded. After a restart, and with the
 * payment_intent.succeeded webhook also reaching the api, the crossing is credited exactly once:
 * one succeeded PaymentIntent in Stripe, one auto_reload ledger row, Redis = Postgres.
 */
describe('an auto-reload worker killed after the charge', () => {
  // The only worker at first is the doomed one.
  const stack = new BillingStack({
    workers: 1,
    stripe: true,
    workerEnv: { FAILPOINT: 'after-charge', PAYMENTS_LOCK_DURATION_MS: LOCK_MS },
  });
  let stripe: Stripe;
  let payments: Queue;

  async function autoReloadRows(accountId: string): Promise<number> {
    const [{ n }] = await stack.stores.sql<{ n: number }[]>`
      select count(*)::int as n from ledger_entries where account_id = ${accountId} and kind = 'auto_reload'`;
    return n;
  }

  beforeAll(async () => {
    await stack.start();
    stripe = stack.stripeClient();
    payments = openStackQueue(stack, QueueName.Payments);
    await stack.setPrice(MODEL, '1000', '1000');
  });

  afterAll(async () => {
    await payments?.close();
    await stack.stop();
  });

  it('credits the crossing exactly once after a restart, never twice', async () => {
    const ws = await Workspace.create(stack);
    await stack.grant(ws.accountId, '10.00');
    await saveCard(stack, ws);
    const settings = await stack.admin.put(`${ws.path}/auto-reload`, {
      enabled: true,
      threshold: '5.00',
      amount: '20.00',
    });
    expect(settings.status).toBe(200);

    // $6 of usage: 10 -> 4, below the $5 threshold.
    const event = {
      id: randomUUID(),
      account_id: ws.accountId,
      model: MODEL,
      prompt_tokens: 6 * TOKENS_PER_USD,
      completion_tokens: 0,
    };
    const response = await stack.gateway.post('/v1/usage/events', { events: [event] });
    expect(response.status).toBe(202);
    const before = 4_000_000n;

    const doomed = stack.workers[0];
    expect(await doomed.waitForExit()).toBeNull(); // killed by SIGKILL, not a clean exit

    const [{ stripe_customer_id: customer }] = await stack.stores.sql<{ stripe_customer_id: string }[]>`
      select stripe_customer_id from accounts where id = ${ws.accountId}`;
    // The card was charged before the kill.
    const charged = (await stripe.paymentIntents.list({ customer, limit: 100 })).data;
    expect(charged.map((intent) => intent.status)).toEqual(['succeeded']);

    // The crossing's job is still active, held by the dead worker until its lock expires.
    expect(await payments.getActive()).toHaveLength(1);

    const survivor = new AppProcess('usage-worker', { ...stack.appEnv, PAYMENTS_LOCK_DURATION_MS: LOCK_MS });
    stack.workers.push(survivor);
    await survivor.start();

    await stack.drained();
    await waitFor(
      () => outstandingJobs(payments),
      (n) => n === 0,
      {
        timeoutMs: 30_000,
        what: 'the payments queue to drain after the restart',
      },
    );
    await waitFor(
      () => autoReloadRows(ws.accountId),
      (n) => n >= 1,
      { what: 'the auto-reload credit' },
    );
    // Let every webhook delivery of the account's PaymentIntent reach the api before counting.
    await waitFor(
      async () => {
        const res = await fetch(
          `${stack.stripeServer!.url}/_test/webhook_deliveries?type=payment_intent.succeeded`,
        );
        const body = (await res.json()) as { data: { status: string }[] };
        return body.data.filter((delivery) => delivery.status !== 'delivered');
      },
      (pending) => pending.length === 0,
      { what: 'payment_intent.succeeded to be delivered' },
    );

    const intents = (await stripe.paymentIntents.list({ customer, limit: 100 })).data;
    expect(intents.filter((intent) => intent.status === 'succeeded')).toHaveLength(1);
    expect(intents).toHaveLength(1);
    expect(await autoReloadRows(ws.accountId)).toBe(1);
    const purchases = await stack.stores.sql<{ status: string; payment_intent_id: string | null }[]>`
      select status, payment_intent_id from credit_purchases
      where account_id = ${ws.accountId} and kind = 'auto_reload'`;
    expect(purchases).toEqual([{ status: 'succeeded', payment_intent_id: intents[0].id }]);

    const expected = before + AMOUNT;
    expect((await stack.stores.postgresBalances()).get(ws.accountId)).toBe(expected);
    expect((await stack.stores.ledgerSums()).get(ws.accountId)).toBe(expected);
    expect(await stack.stores.redisBalance(ws.accountId)).toBe(expected);
    expect(await stack.stores.pendingCount(ws.accountId)).toBe(0);
  });
});
