import { QueueName } from '@app/queue';
import type { Queue } from 'bullmq';
import { randomUUID } from 'node:crypto';
import Stripe from 'stripe';
import { BillingStack } from '../support/billing-stack';
import { openStackQueue, outstandingJobs } from '../support/payments-queue';
import { waitFor } from '../support/wait-for';
import { Workspace } from '../support/workspace';

const MODEL = 'test/no-card-data-model';
const TOKENS_PER_USD = 1000;
const VISA = '4242424242424242';
const THREE_DS = '4000002760003184';
const CVC = '314';

/**
 * Judged g: no card number, CVC or client secret in any table or log. Cards are entered by number
 * (as Stripe.js would send them to Stripe), then set up, charged on session, charged with 3-D Secure
 * and auto-reloaded; every row of every table and the captured output of api, ingest and worker
 * are searched.
 */
describe('no card data at rest or in logs', () => {
  const stack = new BillingStack({ workers: 1, stripe: true, env: { LOG_LEVEL: 'debug' } });
  let stripe: Stripe;
  let payments: Queue;
  const secrets: string[] = [];

  /** A SetupIntent from the api, confirmed with a PaymentMethod made from a raw card number, then saved. */
  async function addCardByNumber(ws: Workspace, number: string): Promise<void> {
    const setup = await stack.admin.post(`${ws.path}/payment-methods/setup-intents`);
    expect(setup.status).toBe(201);
    expect(setup.body.client_secret).toContain('_secret_');
    secrets.push(setup.body.client_secret);
    const method = await stripe.paymentMethods.create({
      type: 'card',
      card: { number, exp_month: 12, exp_year: 2034, cvc: CVC },
    });
    const confirmed = await stripe.setupIntents.confirm(setup.body.setup_intent_id, {
      payment_method: method.id,
    });
    if (confirmed.status === 'requires_action') {
      const response = await fetch(
        `${stack.stripeServer!.url}/_test/setup_intents/${confirmed.id}/authenticate`,
        {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ outcome: 'succeed' }),
        },
      );
      expect(response.status).toBe(200);
    }
    const saved = await stack.admin.post(`${ws.path}/payment-methods`, {
      setup_intent_id: setup.body.setup_intent_id,
    });
    expect(saved.status).toBe(201);
  }

  function buy(ws: Workspace, amount: string) {
    return stack.admin.post(`${ws.path}/purchases`, { amount }, { 'idempotency-key': randomUUID() });
  }

  /** Every row of every table in the public schema, as text. */
  async function databaseDump(): Promise<string> {
    const tables = await stack.stores.sql<{ table_name: string }[]>`
      select table_name from information_schema.tables
      where table_schema = 'public' and table_type = 'BASE TABLE' order by table_name`;
    expect(tables.length).toBeGreaterThan(5);
    const lines: string[] = [];
    for (const { table_name } of tables) {
      const rows = await stack.stores.sql<{ row: string }[]>`
        select t::text as row from ${stack.stores.sql(table_name)} t`;
      for (const { row } of rows) lines.push(`${table_name}: ${row}`);
    }
    return lines.join('\n');
  }

  function logs(): string {
    return [stack.api, stack.ingest, ...stack.workers]
      .map((app) => `--- ${app.app}\n${app.output}`)
      .join('\n');
  }

  function leaks(text: string): string[] {
    const found: string[] = [];
    for (const needle of [VISA, THREE_DS, '"cvc"', `cvc":"${CVC}`, '_secret_', ...secrets]) {
      const at = text.indexOf(needle);
      if (at >= 0) found.push(`${needle}: …${text.slice(Math.max(0, at - 120), at + 80)}…`);
    }
    return found;
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

  it('keeps card numbers, CVCs and client secrets out of every table and log', async () => {
    // A card by number, a purchase on it, and an auto-reload.
    const ws = await Workspace.create(stack);
    await addCardByNumber(ws, VISA);
    const paid = await buy(ws, '10.00');
    expect(paid.status).toBe(201);
    const settings = await stack.admin.put(`${ws.path}/auto-reload`, {
      enabled: true,
      threshold: '5.00',
      amount: '20.00',
    });
    expect(settings.status).toBe(200);
    const spent = await stack.gateway.post('/v1/usage/events', {
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
    expect(spent.status).toBe(202);

    // A 3-D Secure card: the purchase answers with a client_secret for Stripe.js.
    const secure = await Workspace.create(stack);
    await addCardByNumber(secure, THREE_DS);
    const challenged = await buy(secure, '30.00');
    expect(challenged.status).toBe(200);
    expect(challenged.body.status).toBe('requires_action');
    expect(challenged.body.client_secret).toContain('_secret_');
    secrets.push(challenged.body.client_secret);

    await stack.drained();
    await waitFor(
      () => outstandingJobs(payments),
      (n) => n === 0,
      { what: 'the payments queue to drain' },
    );
    await waitFor(
      async () =>
        (
          await stack.stores.sql<{ n: number }[]>`
          select count(*)::int as n from ledger_entries where account_id = ${ws.accountId} and kind = 'auto_reload'`
        )[0].n,
      (n) => n === 1,
      { what: 'the auto-reload credit' },
    );
    // Give the webhooks of all of the above time to reach the api (and its logs).
    await waitFor(
      async () => {
        const res = await fetch(`${stack.stripeServer!.url}/_test/webhook_deliveries`);
        const body = (await res.json()) as { data: { status: string }[] };
        return body.data.filter((delivery) => delivery.status !== 'delivered').length;
      },
      (pending) => pending === 0,
      { what: 'webhooks to be delivered' },
    );

    const dump = await databaseDump();
    // The dump is real: it holds the card's safe details.
    expect(dump).toContain('4242');
    expect(leaks(dump)).toEqual([]);
    const output = logs();
    expect(output.length).toBeGreaterThan(0);
    expect(leaks(output)).toEqual([]);
  });
});
