import { randomUUID } from 'node:crypto';
import Stripe from 'stripe';
import { freePort } from '../support/app-process';
import { waitFor } from '../support/wait-for';
import { StripeTestServer, WebhookReceiver } from './support/stripe-test-server';

describe('stripe-server: signed webhook delivery', () => {
  const receiver = new WebhookReceiver();
  let server: StripeTestServer;
  let stripe: Stripe;

  const pay = (options?: Stripe.RequestOptions) =>
    stripe.paymentIntents.create(
      {
        amount: 3000,
        currency: 'usd',
        payment_method: 'pm_card_visa',
        confirm: true,
        metadata: { purchase_id: 'p-1' },
      },
      options,
    );
  const receivedFor = (objectId: string) =>
    receiver.received.filter((item) => (item.event.data.object as { id: string }).id === objectId);
  const waitForEvent = (type: string, objectId: string) =>
    waitFor(
      () => receivedFor(objectId).filter((item) => item.event.type === type),
      (found) => found.length > 0,
      { timeoutMs: 10_000, what: `${type} for ${objectId}` },
    ).then((found) => found[0].event);

  beforeAll(async () => {
    const url = await receiver.start();
    server = await new StripeTestServer({ webhookUrl: url, webhookRetryBaseMs: 100 }).start();
    stripe = server.stripe();
  });
  afterAll(async () => {
    await server.stop();
    await receiver.stop();
  });

  it('delivers payment events that stripe.webhooks.constructEvent verifies', async () => {
    const key = randomUUID();
    const paymentIntent = await pay({ idempotencyKey: key });

    const sut = await waitForEvent('payment_intent.succeeded', paymentIntent.id);

    expect(sut).toMatchObject({
      object: 'event',
      livemode: false,
      request: { idempotency_key: key },
      data: { object: { id: paymentIntent.id, status: 'succeeded', metadata: { purchase_id: 'p-1' } } },
    });
    expect(sut.id).toMatch(/^evt_/);
    expect(sut.api_version).toEqual(expect.any(String));
    const charge = await waitForEvent('charge.succeeded', paymentIntent.latest_charge as string);
    expect(charge.data.object).toMatchObject({ object: 'charge', payment_intent: paymentIntent.id });
    expect(receiver.rejected).toEqual([]);
  });

  it('delivers the events of one object in creation order', async () => {
    const paymentIntent = await pay();
    await waitForEvent('payment_intent.succeeded', paymentIntent.id);
    expect(receivedFor(paymentIntent.id).map((item) => item.event.type)).toEqual([
      'payment_intent.created',
      'payment_intent.succeeded',
    ]);
  });

  it('serves a delivered event again at GET /v1/events/:id', async () => {
    const paymentIntent = await pay();
    const delivered = await waitForEvent('payment_intent.succeeded', paymentIntent.id);
    const sut = await stripe.events.retrieve(delivered.id);
    expect(sut.data).toEqual(delivered.data);
    expect(sut.type).toBe('payment_intent.succeeded');
  });

  it('sends payment_intent.payment_failed for a decline', async () => {
    const declined = await stripe.paymentIntents
      .create({ amount: 3000, currency: 'usd', payment_method: 'pm_card_chargeDeclined', confirm: true })
      .catch((caught: Stripe.errors.StripeError) => caught.payment_intent!);
    const sut = await waitForEvent('payment_intent.payment_failed', declined.id);
    expect(sut.data.object).toMatchObject({ last_payment_error: { decline_code: 'generic_decline' } });
  });

  it('retries a delivery the receiver answered with 500, until it is accepted', async () => {
    receiver.failNext(1, (rawBody) => rawBody.includes('retry@acme.test'));
    const customer = await stripe.customers.create({ email: 'retry@acme.test' });

    await waitForEvent('customer.created', customer.id);

    // The receiver records an event before it answers: await the record's own status.
    const sut = await waitFor(
      async () =>
        (await server.helper('GET', '/_test/webhook_deliveries?type=customer.created')).body.data.find(
          (record: any) => record.object_id === customer.id,
        ),
      (record) => record?.status !== 'pending',
      { what: 'the delivery to be answered' },
    );
    expect(sut.status).toBe('delivered');
    expect(sut.attempts.map((attempt: any) => attempt.status_code)).toEqual([500, 200]);
  });

  it('redelivers an event on request, with the same event id', async () => {
    const customer = await stripe.customers.create();
    const first = await waitForEvent('customer.created', customer.id);

    const redelivery = await server.helper('POST', `/_test/events/${first.id}/redeliver`);

    expect(redelivery.status).toBe(200);
    await waitFor(
      () => receivedFor(customer.id).length,
      (count) => count === 2,
      { what: 'the redelivery' },
    );
    expect(receivedFor(customer.id).map((item) => item.event.id)).toEqual([first.id, first.id]);
  });

  it('sends charge.refunded with the charge, and refund.created', async () => {
    const paymentIntent = await pay();
    const refund = await stripe.refunds.create({ payment_intent: paymentIntent.id, amount: 1000 });
    const refunded = await waitForEvent('charge.refunded', paymentIntent.latest_charge as string);
    expect(refunded.data.object).toMatchObject({ object: 'charge', amount_refunded: 1000, refunded: false });
    await waitForEvent('refund.created', refund.id);
  });

  it('sends payment_method.detached', async () => {
    const customer = await stripe.customers.create();
    const card = await stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id });
    await stripe.paymentMethods.detach(card.id);
    const sut = await waitForEvent('payment_method.detached', card.id);
    expect(sut.data).toMatchObject({
      object: { customer: null },
      previous_attributes: { customer: customer.id },
    });
  });

  it('sends setup_intent.succeeded', async () => {
    const customer = await stripe.customers.create();
    const setupIntent = await stripe.setupIntents.create({
      customer: customer.id,
      payment_method: 'pm_card_visa',
      confirm: true,
    });
    await waitForEvent('setup_intent.succeeded', setupIntent.id);
  });

  it('sends charge.dispute.created when the test helper disputes a charge', async () => {
    const paymentIntent = await pay();
    const dispute = await server.helper('POST', `/_test/charges/${paymentIntent.latest_charge}/dispute`, {
      reason: 'fraudulent',
    });
    expect(dispute.body).toMatchObject({ object: 'dispute', amount: 3000, status: 'needs_response' });
    const sut = await waitForEvent('charge.dispute.created', dispute.body.id);
    expect(sut.data.object).toMatchObject({ charge: paymentIntent.latest_charge, reason: 'fraudulent' });
    expect(await stripe.charges.retrieve(paymentIntent.latest_charge as string)).toMatchObject({
      disputed: true,
    });
  });
});

describe('stripe-server: webhook delivery turned off or duplicated', () => {
  it('records events with pending_webhooks 0 when no webhook URL is set', async () => {
    const server = await new StripeTestServer().start();
    try {
      const stripe = server.stripe();
      await stripe.customers.create();
      const events = await stripe.events.list({ type: 'customer.created' });
      expect(events.data).toHaveLength(1);
      expect(events.data[0].pending_webhooks).toBe(0);
    } finally {
      await server.stop();
    }
  });

  it('keeps retrying while the consumer is down, and delivers once it is back', async () => {
    const port = await freePort();
    const receiver = new WebhookReceiver();
    const server = await new StripeTestServer({
      webhookUrl: `http://127.0.0.1:${port}/webhooks/stripe`,
      webhookRetryBaseMs: 50,
      webhookRetryMaxMs: 200,
    }).start();
    try {
      const customer = await server.stripe().customers.create();
      await waitFor(
        async () =>
          (await server.helper('GET', '/_test/webhook_deliveries')).body.data[0]?.attempts.length ?? 0,
        (attempts) => attempts >= 2,
        { what: 'failed attempts while the consumer is down' },
      );

      await receiver.start(port);

      const sut = await waitFor(
        () => receiver.eventsOfType('customer.created'),
        (events) => events.length === 1,
        { what: 'the delivery after the consumer came back' },
      );
      expect((sut[0].data.object as Stripe.Customer).id).toBe(customer.id);
      const record = await waitFor(
        async () => (await server.helper('GET', '/_test/webhook_deliveries')).body.data[0],
        (found) => found.status !== 'pending',
        { what: 'the delivery to be answered' },
      );
      expect(record.status).toBe('delivered');
      expect(record.attempts[0]).toMatchObject({ status_code: null, error: expect.any(String) });
    } finally {
      await server.stop();
      await receiver.stop();
    }
  });

  it('delivers every event twice when asked to, for idempotency tests', async () => {
    const receiver = new WebhookReceiver();
    const server = await new StripeTestServer({
      webhookUrl: await receiver.start(),
      webhookDuplicateDelivery: true,
    }).start();
    try {
      const customer = await server.stripe().customers.create();
      const sut = await waitFor(
        () =>
          receiver.received.filter((item) => (item.event.data.object as { id: string }).id === customer.id),
        (found) => found.length === 2,
      );
      expect(sut[0].event.id).toBe(sut[1].event.id);
    } finally {
      await server.stop();
      await receiver.stop();
    }
  });
});
