import { JobName, QUEUE_SETTINGS, QueueName } from '@app/queue';
import { Job, Queue } from 'bullmq';
import { randomUUID } from 'node:crypto';
import Stripe from 'stripe';
import { BillingStack } from '../support/billing-stack';
import { saveCard } from '../support/cards';
import { StripeProxy } from '../support/stripe-proxy';
import { waitFor } from '../support/wait-for';
import { Workspace } from '../support/workspace';
import { openStackQueue } from '../support/payments-queue';

/** 1,000 USD per million prompt tokens: one prompt token costs 1,000 micros, so $1 is 1,000 tokens. */
const MODEL = 'test/auto-reload-lost-answer-model';
const TOKENS_PER_USD = 1000;

/**
 * I2, I5: Stripe's answer to an auto-reload's create is lost on the job's last attempt (the card
 * was charged, the worker saw a connection error). The crossing's outcome is what Stripe holds,
 * never a guessed decline: one PaymentIntent, one credit, and no second charge after a "fix".
 * The worker reaches Stripe through a proxy that loses answers; webhooks are not delivered, so
 * only the job (and the sweep) can settle the crossing.
 */
describe('an auto-reload whose charge answer is lost', () => {
  const proxy = new StripeProxy(() => stack.stripeServer!.port);
  let stack: BillingStack;
  let stripe: Stripe;
  let payments: Queue;

  async function reloadingWorkspace(): Promise<Workspace> {
    const ws = await Workspace.create(stack);
    await stack.grant(ws.accountId, '10.00');
    await saveCard(stack, ws);
    const settings = await saveSettings(ws);
    expect(settings.status).toBe(200);
    return ws;
  }

  function saveSettings(ws: Workspace) {
    return stack.admin.put(`${ws.path}/auto-reload`, { enabled: true, threshold: '5.00', amount: '20.00' });
  }

  /**
   * $6 of usage (10 -> 4, below $5) crosses; its job is held back and added again with one
   * attempt, so the run the proxy disturbs is the last.
   */
  async function crossOnLastAttempt(ws: Workspace): Promise<string> {
    const jobId = `auto-reload:${ws.accountId}:1`;
    await payments.pause();
    try {
      const response = await stack.gateway.post('/v1/usage/events', {
        events: [
          {
            id: randomUUID(),
            account_id: ws.accountId,
            model: MODEL,
            prompt_tokens: 6 * TOKENS_PER_USD,
            completion_tokens: 0,
          },
        ],
      });
      expect(response.status).toBe(202);
      const job = await waitFor(() => payments.getJob(jobId), Boolean, { what: 'the crossing job' });
      await job!.remove();
      await payments.add(JobName.AutoReload, job!.data, {
        ...QUEUE_SETTINGS[QueueName.Payments].jobOptions,
        jobId,
        attempts: 1,
      });
    } finally {
      await payments.resume();
    }
    return jobId;
  }

  async function finished(jobId: string): Promise<Job> {
    await waitFor(
      async () => (await payments.getJob(jobId))?.getState(),
      (state) => state === 'completed' || state === 'failed',
      { what: `job ${jobId} to finish` },
    );
    return (await payments.getJob(jobId))!;
  }

  async function intentsOf(ws: Workspace): Promise<Stripe.PaymentIntent[]> {
    const [{ stripe_customer_id: customer }] = await stack.stores.sql<{ stripe_customer_id: string }[]>`
      select stripe_customer_id from accounts where id = ${ws.accountId}`;
    return (await stripe.paymentIntents.list({ customer, limit: 100 })).data;
  }

  async function reloadsOf(ws: Workspace) {
    return stack.stores.sql<{ status: string; payment_intent_id: string | null }[]>`
      select status, payment_intent_id from credit_purchases
      where account_id = ${ws.accountId} and kind = 'auto_reload' order by created_at`;
  }

  async function ledgerCredits(ws: Workspace): Promise<number> {
    const [{ n }] = await stack.stores.sql<{ n: number }[]>`
      select count(*)::int as n from ledger_entries where account_id = ${ws.accountId} and kind = 'auto_reload'`;
    return n;
  }

  async function declines(ws: Workspace): Promise<number> {
    const [{ n }] = await stack.stores.sql<{ n: number }[]>`
      select count(*)::int as n from audit_log where account_id = ${ws.accountId} and action = 'auto_reload.declined'`;
    return n;
  }

  beforeAll(async () => {
    await proxy.start();
    stack = new BillingStack({
      workers: 1,
      stripe: true,
      // Recorded, not delivered: the webhook must not settle what the job has to.
      stripeServerEnv: { STRIPE_WEBHOOK_URL: '' },
      // The sweep looks every half second at every pending reload whose job gave up.
      workerEnv: {
        STRIPE_API_URL: proxy.url,
        AUTO_RELOAD_SWEEP_INTERVAL_MS: '500',
        AUTO_RELOAD_SWEEP_AGE_MS: '0',
      },
    });
    await stack.start();
    stripe = stack.stripeClient();
    payments = openStackQueue(stack, QueueName.Payments);
    await stack.setPrice(MODEL, '1000', '1000');
  });

  afterAll(async () => {
    await payments?.close();
    await stack?.stop();
    await proxy.stop();
  });

  beforeEach(() => {
    proxy.mode = 'pass';
    proxy.afterLoss = null;
    proxy.lostCreates = 0;
  });

  it('settles the crossing from the PaymentIntent Stripe made, not as a decline', async () => {
    const ws = await reloadingWorkspace();
    // Every try of the create is lost, the SDK's own retries with the same key too; reads pass.
    proxy.mode = 'lose-create-answer';
    const job = await finished(await crossOnLastAttempt(ws));

    expect(proxy.lostCreates).toBeGreaterThan(1);
    expect(job.returnvalue).toMatchObject({ outcome: 'succeeded' });
    const intents = await intentsOf(ws);
    expect(intents.map((intent) => intent.status)).toEqual(['succeeded']);
    expect(await reloadsOf(ws)).toEqual([{ status: 'succeeded', payment_intent_id: intents[0].id }]);
    expect(await ledgerCredits(ws)).toBe(1);
    expect(await declines(ws)).toBe(0);
    expect((await stack.stores.postgresBalances()).get(ws.accountId)).toBe(24_000_000n);
  });

  it('charges no second time when the owner saves the settings afterwards', async () => {
    const ws = await reloadingWorkspace();
    // Every try of the create is lost, the SDK's own retries with the same key too; reads pass.
    proxy.mode = 'lose-create-answer';
    await finished(await crossOnLastAttempt(ws));

    // Saving the settings retries a failed or skipped last crossing before answering.
    expect((await saveSettings(ws)).status).toBe(200);
    expect(await payments.getJob(`auto-reload:${ws.accountId}:2`)).toBeUndefined();
    expect(await intentsOf(ws)).toHaveLength(1);
    expect(await ledgerCredits(ws)).toBe(1);
  });

  it('leaves the crossing pending, not declined, while Stripe cannot be asked', async () => {
    const ws = await reloadingWorkspace();
    proxy.mode = 'lose-create-answer';
    proxy.afterLoss = 'down';
    const job = await finished(await crossOnLastAttempt(ws));

    expect(await job.getState()).toBe('failed');
    expect(await reloadsOf(ws)).toEqual([{ status: 'pending', payment_intent_id: null }]);
    expect(await declines(ws)).toBe(0);
    expect((await intentsOf(ws)).map((intent) => intent.status)).toEqual(['succeeded']);
  });

  describe('once the job has given up', () => {
    it('the sweep settles a pending reload from the PaymentIntent Stripe holds', async () => {
      const ws = await reloadingWorkspace();
      proxy.mode = 'lose-create-answer';
      proxy.afterLoss = 'down';
      expect(await (await finished(await crossOnLastAttempt(ws))).getState()).toBe('failed');
      expect(await reloadsOf(ws)).toEqual([{ status: 'pending', payment_intent_id: null }]);

      proxy.mode = 'pass';
      await waitFor(
        () => reloadsOf(ws),
        (rows) => rows[0].status !== 'pending',
        { what: 'the sweep' },
      );
      const intents = await intentsOf(ws);
      expect(intents.map((intent) => intent.status)).toEqual(['succeeded']);
      expect(await reloadsOf(ws)).toEqual([{ status: 'succeeded', payment_intent_id: intents[0].id }]);
      expect(await ledgerCredits(ws)).toBe(1);
      expect(await declines(ws)).toBe(0);
    });

    it('the sweep retries the job of a pending reload that never reached Stripe', async () => {
      const ws = await reloadingWorkspace();
      proxy.mode = 'down';
      const jobId = await crossOnLastAttempt(ws);
      expect(await (await finished(jobId)).getState()).toBe('failed');
      expect(await reloadsOf(ws)).toEqual([{ status: 'pending', payment_intent_id: null }]);
      expect(await intentsOf(ws)).toHaveLength(0);

      proxy.mode = 'pass';
      await waitFor(
        () => reloadsOf(ws),
        (rows) => rows[0].status !== 'pending',
        { what: 'the sweep' },
      );
      await waitFor(
        async () => (await payments.getJob(jobId))?.getState(),
        (state) => state === 'completed',
      );
      expect((await payments.getJob(jobId))?.returnvalue).toMatchObject({ outcome: 'succeeded' });
      expect((await intentsOf(ws)).map((intent) => intent.status)).toEqual(['succeeded']);
      expect(await ledgerCredits(ws)).toBe(1);
    });

    it('saving the settings retries the failed job of a crossing that never opened', async () => {
      const ws = await reloadingWorkspace();
      // Opening this account's reload fails, as during a Postgres outage (the suite's own database).
      await stack.stores.sql.unsafe(`
        create or replace function refuse_reload() returns trigger language plpgsql as
          $$ begin raise exception 'outage'; end $$;
        create trigger refuse_reload before insert on credit_purchases
          for each row when (new.account_id = '${ws.accountId}') execute function refuse_reload()`);
      try {
        const jobId = await crossOnLastAttempt(ws);
        expect(await (await finished(jobId)).getState()).toBe('failed');
        expect(await reloadsOf(ws)).toEqual([]);
      } finally {
        await stack.stores.sql.unsafe(`drop trigger refuse_reload on credit_purchases`);
      }

      expect((await saveSettings(ws)).status).toBe(200);
      await waitFor(
        () => reloadsOf(ws),
        (rows) => rows[0]?.status === 'succeeded',
        { what: 'the reload' },
      );
      expect(await intentsOf(ws)).toHaveLength(1);
      expect(await ledgerCredits(ws)).toBe(1);
    });
  });
});
