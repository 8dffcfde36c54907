import { QueueName } from '@app/queue';
import type { Queue } from 'bullmq';
import { randomUUID } from 'node:crypto';
import Stripe from 'stripe';
import { BillingStack } from '../support/billing-stack';
import { saveCard } from '../support/cards';
import { openStackQueue, usageAndReloadsSettled } from '../support/payments-queue';
import { spendUsd } from '../support/spend';
import { deliverStripeEvent } from '../support/stripe-webhooks';
import { waitFor } from '../support/wait-for';
import { Workspace } from '../support/workspace';
import { settledDeliveries } from '../notifications/alert-fixtures';

/** Priced at 1,000 USD per million prompt tokens: $1 is TOKENS_PER_USD (1,000) tokens (spendUsd). */
const MODEL = 'test/auto-reload-dispute-model';

/**
 * A disputed charge pauses auto-reload (paused_reason `dispute`): the card whose holder disputes
 * us is not charged off-session again until the owner turns auto-reload back on. A new card or
 * a purchase, which end a pause after failed charges, do not end this one. The owner is emailed
 * (an `auto_reload_paused` alert with reason `dispute`) when a dispute pauses auto-reload that was on.
 */
describe('auto-reload after a dispute', () => {
  const stack = new BillingStack({ workers: 1, stripe: true, smtp: true });
  let stripe: Stripe;
  let payments: Queue;

  async function testHelper(path: string, body: unknown = {}): Promise<any> {
    const response = await fetch(`${stack.stripeServer!.url}/_test/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(response.status).toBe(200);
    return response.json();
  }

  const settingsInput = { enabled: true, threshold: '5.00', amount: '20.00' };

  async function buy(ws: Workspace, amount: string, paymentMethodId?: string) {
    const bought = await stack.admin.post(
      `${ws.path}/purchases`,
      { amount, payment_method_id: paymentMethodId },
      { 'idempotency-key': randomUUID() },
    );
    expect(bought.status).toBe(201);
    return bought.body as { id: string; payment_intent_id: string };
  }

  /**
   * $10 granted, a card, auto-reload at $5 -> +$20 (`enabled` as given), and a $5 purchase whose
   * charge is then disputed.
   */
  async function disputedWorkspace(enabled = true) {
    const ws = await Workspace.create(stack);
    await stack.grant(ws.accountId, '10.00');
    await saveCard(stack, ws);
    expect((await stack.admin.put(`${ws.path}/auto-reload`, { ...settingsInput, enabled })).status).toBe(200);
    const bought = await buy(ws, '5.00');
    return { ws, ...(await dispute(bought.payment_intent_id)) };
  }

  async function dispute(paymentIntentId: string) {
    const intent = await stripe.paymentIntents.retrieve(paymentIntentId);
    const opened = await testHelper(`charges/${intent.latest_charge as string}/dispute`, {
      reason: 'fraudulent',
    });
    const event = await eventAbout(opened.id, 'charge.dispute.created');
    await handled(event.id);
    return { dispute: opened, event };
  }

  /**
   * A $5 purchase paid by a visa (its PaymentIntent is returned), then a declining default card
   * whose three failed reloads pause auto-reload.
   */
  async function failurePausedWorkspace() {
    const ws = await Workspace.create(stack);
    await stack.grant(ws.accountId, '10.00');
    const visa = await saveCard(stack, ws);
    const bought = await buy(ws, '5.00', visa.id); // $15
    const declining = await saveCard(stack, ws, 'pm_card_chargeDeclinedInsufficientFunds');
    expect((await stack.admin.post(`${ws.path}/payment-methods/${declining.id}/default`)).status).toBe(200);
    expect((await stack.admin.put(`${ws.path}/auto-reload`, settingsInput)).status).toBe(200);
    await spend(ws, 11); // $4: declined
    for (let failure = 2; failure <= 3; failure++) {
      await stack.grant(ws.accountId, '10.00'); // $14, above the threshold again
      await spend(ws, 10); // $4: declined
    }
    expect(await settingsOf(ws)).toMatchObject({ paused: true, consecutive_failures: 3 });
    return { ws, paymentIntentId: bought.payment_intent_id, visa };
  }

  async function eventAbout(objectId: string, type: string): Promise<Stripe.Event> {
    return waitFor(
      async () =>
        (await stripe.events.list({ limit: 100, type })).data.find(
          (event) => (event.data.object as { id?: string }).id === objectId,
        ),
      (event): event is Stripe.Event => event !== undefined,
      { what: `a ${type} event about ${objectId}` },
    ) as Promise<Stripe.Event>;
  }

  async function handled(eventId: string): Promise<void> {
    await waitFor(
      () => stack.stores.sql`select 1 from stripe_events where id = ${eventId}`,
      (rows) => rows.length === 1,
      { what: `event ${eventId} to be handled` },
    );
  }

  const deliver = (event: Stripe.Event) => deliverStripeEvent(stack, event);

  /** One usage batch costing exactly `usd`, processed, and any reload job it added finished. */
  async function spend(ws: Workspace, usd: number): Promise<void> {
    await spendUsd(stack, ws.accountId, MODEL, usd);
    await settled();
  }

  const settled = () => usageAndReloadsSettled(stack, payments);

  async function reloadsOf(ws: Workspace) {
    const rows = await stack.stores.sql<
      { request_key: string; status: string; failure_code: string | null; failure_message: string | null }[]
    >`
      select request_key, status, failure_code, failure_message from credit_purchases
      where account_id = ${ws.accountId} and kind = 'auto_reload' order by created_at`;
    return [...rows];
  }

  async function settingsOf(ws: Workspace) {
    const response = await stack.admin.get(`${ws.path}/auto-reload`);
    expect(response.status).toBe(200);
    return response.body;
  }

  async function auditOf(ws: Workspace, action: string): Promise<any[]> {
    const response = await stack.admin.get(`${ws.path}/audit-log?limit=1000&action=${action}`);
    expect(response.status).toBe(200);
    return response.body.entries;
  }

  /** The alerts that auto-reload is paused, in the order raised. */
  async function pauseAlertsOf(ws: Workspace) {
    const rows = await stack.stores.sql<{ id: string; dedupe_key: string; details: any }[]>`
      select id, dedupe_key, details from alerts
      where account_id = ${ws.accountId} and kind = 'auto_reload_paused' order by raised_at`;
    return [...rows];
  }

  /** The emails of one alert, once its single delivery (the billing email) is settled. */
  async function emailsOf(alertId: string) {
    await settledDeliveries(stack, alertId, 1);
    return stack.smtp!.messages.filter((message) => message.headers.get('x-billing-alert-id') === alertId);
  }

  /** Stripe's cents as our email prints them ("$5.00"), in integers. */
  function usd(cents: number): string {
    return `$${Math.trunc(cents / 100)}.${String(cents % 100).padStart(2, '0')}`;
  }

  async function paymentIntentCount(ws: Workspace): Promise<number> {
    const [{ stripe_customer_id }] = await stack.stores.sql<{ stripe_customer_id: string }[]>`
      select stripe_customer_id from accounts where id = ${ws.accountId}`;
    return (await stripe.paymentIntents.list({ customer: stripe_customer_id, limit: 100 })).data.length;
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

  it('pauses auto-reload once, however often and concurrently the dispute webhook arrives', async () => {
    const { ws, dispute, event } = await disputedWorkspace();

    expect(await Promise.all([deliver(event), deliver(event)])).toEqual([200, 200]);

    expect(await settingsOf(ws)).toMatchObject({
      enabled: true,
      paused: true,
      paused_at: expect.any(String),
      paused_reason: 'dispute',
      consecutive_failures: 0,
    });
    const pauses = await auditOf(ws, 'auto_reload.paused');
    expect(pauses).toEqual([
      expect.objectContaining({
        actor: { type: 'system', id: null },
        target: { type: 'account', id: ws.accountId },
        before: { paused_at: null, paused_reason: null },
        after: expect.objectContaining({ paused_reason: 'dispute', dispute: dispute.id }),
      }),
    ]);
  });

  it('emails the owner once that a dispute paused auto-reload, however often the webhook arrives', async () => {
    const { ws, dispute, event } = await disputedWorkspace();

    expect(await Promise.all([deliver(event), deliver(event)])).toEqual([200, 200]);

    const alerts = await pauseAlertsOf(ws);
    expect(alerts).toEqual([
      {
        id: expect.any(String),
        dedupe_key: `auto_reload_paused:${ws.accountId}:dispute:${dispute.id}`,
        details: expect.objectContaining({
          reason: 'dispute',
          dispute_id: dispute.id,
          card: { brand: 'visa', last4: '4242' },
          balance: '15.000000',
        }),
      },
    ]);
    const [email, ...more] = await emailsOf(alerts[0].id);
    expect(more).toEqual([]);
    expect(email.recipient).toBe('owner@example.test');
    expect(email.subject).toMatch(/^Action needed: auto-reload is paused for .* after a disputed payment$/);
    const text = email.text.replace(/\s+/g, ' ');
    expect(text).toContain(
      `A payment of ${usd(dispute.amount)} with your Visa ending in 4242 was disputed with the card issuer, so we paused auto-reload.`,
    );
    expect(text).toContain('no card will be charged automatically');
    expect(text).toContain(
      `To resume, turn auto-reload back on: save the auto-reload settings with enabled: true (PUT /v1/accounts/${ws.accountId}/auto-reload).`,
    );
    expect(text).toContain('Balance now: $15.00');
    expect(email.html).toContain('no card will be charged automatically');
  });

  it('emails nothing when the dispute pauses auto-reload that was off', async () => {
    const { ws } = await disputedWorkspace(false);

    expect(await settingsOf(ws)).toMatchObject({ enabled: false, paused: true, paused_reason: 'dispute' });
    // Raised, it would be in the transaction that recorded the event, which has committed.
    expect(await pauseAlertsOf(ws)).toEqual([]);
  });

  it('emails nothing for a second dispute while auto-reload is paused for one', async () => {
    const { ws, dispute: first } = await disputedWorkspace();
    const bought = await buy(ws, '5.00');

    await dispute(bought.payment_intent_id);

    expect((await pauseAlertsOf(ws)).map((alert) => alert.details.dispute_id)).toEqual([first.id]);
  });

  it('skips the next crossing, recorded, without charging the disputed card', async () => {
    const { ws } = await disputedWorkspace();
    const charged = await paymentIntentCount(ws);

    await spend(ws, 11); // $15 -> $4: crosses $5

    expect(await reloadsOf(ws)).toEqual([
      {
        request_key: `auto-reload:${ws.accountId}:1`,
        status: 'canceled',
        failure_code: 'paused',
        failure_message: 'auto-reload is paused since a charge was disputed',
      },
    ]);
    expect(await paymentIntentCount(ws)).toBe(charged);
    expect(await auditOf(ws, 'auto_reload.skipped')).toEqual([
      expect.objectContaining({ after: expect.objectContaining({ reason: 'paused' }) }),
    ]);
  });

  it('stays paused when the default card changes', async () => {
    const { ws } = await disputedWorkspace();
    await spend(ws, 11); // skipped: below the threshold with a reload owed

    const amex = await saveCard(stack, ws, 'pm_card_amex');
    expect((await stack.admin.post(`${ws.path}/payment-methods/${amex.id}/default`)).status).toBe(200);
    await settled();

    expect(await settingsOf(ws)).toMatchObject({ paused: true, paused_reason: 'dispute' });
    expect((await reloadsOf(ws)).map((reload) => reload.status)).toEqual(['canceled']);
  });

  it('stays paused when a purchase succeeds', async () => {
    const { ws } = await disputedWorkspace();

    await buy(ws, '5.00');

    expect(await settingsOf(ws)).toMatchObject({ paused: true, paused_reason: 'dispute' });
  });

  it('a purchase still ends a pause after failed charges', async () => {
    const { ws, visa } = await failurePausedWorkspace();

    await buy(ws, '5.00', visa.id);

    expect(await settingsOf(ws)).toMatchObject({
      paused: false,
      paused_reason: null,
      consecutive_failures: 0,
    });
  });

  it('a dispute during a pause after failed charges makes it a dispute pause, which a new card does not end', async () => {
    const { ws, paymentIntentId, visa } = await failurePausedWorkspace();

    await dispute(paymentIntentId);
    expect(await settingsOf(ws)).toMatchObject({ paused: true, paused_reason: 'dispute' });
    // The owner was told to change the card, which no longer resumes it: they are told again.
    expect((await pauseAlertsOf(ws)).map((alert) => alert.details.reason)).toEqual(['failures', 'dispute']);
    expect((await emailsOf((await pauseAlertsOf(ws))[1].id))[0].text).toContain(
      `with your Visa ending in 4242 was disputed`,
    );
    expect((await stack.admin.post(`${ws.path}/payment-methods/${visa.id}/default`)).status).toBe(200);
    await settled();

    expect(await settingsOf(ws)).toMatchObject({
      paused: true,
      paused_reason: 'dispute',
      consecutive_failures: 0,
    });
    expect((await reloadsOf(ws)).map((reload) => reload.status)).toEqual(['failed', 'failed', 'failed']);
  });

  it('resumes when the owner turns auto-reload on again, audited, and makes the reload it skipped', async () => {
    const { ws } = await disputedWorkspace();
    await spend(ws, 11); // $15 -> $4, skipped

    const saved = await stack.admin.put(`${ws.path}/auto-reload`, settingsInput);

    expect(saved.status).toBe(200);
    expect(saved.body).toMatchObject({ paused: false, paused_at: null, paused_reason: null });
    const [resumed] = await auditOf(ws, 'auto_reload.resumed');
    expect(resumed).toMatchObject({
      actor: { type: 'admin' },
      before: { paused_at: expect.any(String), paused_reason: 'dispute' },
      after: { paused_at: null, paused_reason: null },
    });
    await settled();
    expect((await reloadsOf(ws)).map((reload) => [reload.status, reload.request_key])).toEqual([
      ['canceled', `auto-reload:${ws.accountId}:1`],
      ['succeeded', `auto-reload:${ws.accountId}:2`],
    ]);
  });

  it('stays paused when the owner saves it turned off', async () => {
    const { ws } = await disputedWorkspace();

    const saved = await stack.admin.put(`${ws.path}/auto-reload`, { ...settingsInput, enabled: false });

    expect(saved.body).toMatchObject({ enabled: false, paused: true, paused_reason: 'dispute' });
  });
});
