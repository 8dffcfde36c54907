import type Stripe from 'stripe';
import { TEST_CARDS } from '../cards/test-cards';
import { ApiContext } from '../core/api-context';
import { docUrl, invalidRequest, unexpectedState } from '../core/api-error';
import { checkParams, oneOf, optionalInteger, optionalString } from '../core/params';
import { getOrThrow } from '../core/state';
import { PathParams, Router } from '../http/router';
import { WebhookDelivery } from '../webhooks/webhook-delivery';
import { createDispute, closeDispute } from './disputes.service';
import { attemptPayment, failAttempt } from './payment-intents.service';
import { attemptSetup, failSetup } from './setup-intents.service';

/**
 * Not Stripe API: what a test needs to play the customer, the card network or the operator.
 * Served under /_test without an API key.
 */
export interface TestHelperDeps {
  delivery: WebhookDelivery;
  /** Forgets all objects, events, idempotency keys and deliveries. */
  reset(): void;
  /** Forgets one idempotency key; false if it was not kept. */
  forgetIdempotencyKey(key: string): boolean;
}

function readOutcome(ctx: ApiContext): 'succeed' | 'fail' {
  checkParams(ctx.params, { outcome: true });
  return oneOf(ctx.params, 'outcome', ['succeed', 'fail'] as const) ?? 'succeed';
}

/** The customer finishes (or abandons) 3D Secure for a PaymentIntent in requires_action. */
function authenticatePaymentIntent(ctx: ApiContext, path: PathParams): Stripe.PaymentIntent {
  const outcome = readOutcome(ctx);
  const paymentIntent = getOrThrow(ctx.state.paymentIntents, 'payment_intent', path.id);
  if (paymentIntent.status !== 'requires_action') {
    throw unexpectedState(
      'payment_intent_unexpected_state',
      `PaymentIntent ${paymentIntent.id} has status ${paymentIntent.status}, not requires_action.`,
    );
  }
  if (outcome === 'succeed')
    return attemptPayment(ctx, paymentIntent, { offSession: false, authenticated: true });
  const paymentMethod = ctx.state.paymentMethods.get(paymentIntent.payment_method as string)!;
  failAttempt(ctx, paymentIntent, {
    type: 'invalid_request_error',
    code: 'payment_intent_authentication_failure',
    doc_url: docUrl('payment_intent_authentication_failure'),
    message:
      'The provided PaymentMethod has failed authentication. You can provide payment_method_data or a new PaymentMethod to attempt to fulfill this PaymentIntent again.',
    payment_method: structuredClone(paymentMethod),
    payment_method_type: 'card',
  });
  return paymentIntent;
}

function authenticateSetupIntent(ctx: ApiContext, path: PathParams): Stripe.SetupIntent {
  const outcome = readOutcome(ctx);
  const setupIntent = getOrThrow(ctx.state.setupIntents, 'setupintent', path.id);
  if (setupIntent.status !== 'requires_action') {
    throw unexpectedState(
      'setup_intent_unexpected_state',
      `SetupIntent ${setupIntent.id} has status ${setupIntent.status}, not requires_action.`,
    );
  }
  if (outcome === 'succeed') return attemptSetup(ctx, setupIntent, { authenticated: true });
  const paymentMethod = ctx.state.paymentMethods.get(setupIntent.payment_method as string)!;
  failSetup(ctx, setupIntent, {
    type: 'invalid_request_error',
    code: 'setup_intent_authentication_failure',
    doc_url: docUrl('setup_intent_authentication_failure'),
    message: 'The latest attempt to set up the payment method has failed because authentication failed.',
    payment_method: structuredClone(paymentMethod),
    payment_method_type: 'card',
  });
  return setupIntent;
}

function disputeCharge(ctx: ApiContext, path: PathParams): Stripe.Dispute {
  checkParams(ctx.params, { amount: true, reason: true });
  const charge = getOrThrow(ctx.state.charges, 'charge', path.id);
  return createDispute(ctx, charge, {
    amount: optionalInteger(ctx.params, 'amount'),
    reason: optionalString(ctx.params, 'reason') ?? undefined,
  });
}

/**
 * The card network returns a refund (closed or expired card): as in Stripe, the refund turns
 * `failed` with a failure_reason, its amount is no longer refunded on the charge (the money is
 * back in the merchant's balance), and refund.updated and refund.failed are sent. Only a
 * succeeded or pending refund can fail.
 */
function failRefund(ctx: ApiContext, path: PathParams): Stripe.Refund {
  checkParams(ctx.params, { failure_reason: true });
  const refund = getOrThrow(ctx.state.refunds, 'refund', path.id);
  if (refund.status !== 'succeeded' && refund.status !== 'pending') {
    throw unexpectedState('refund_unexpected_state', `Refund ${refund.id} has status ${refund.status}.`);
  }
  const previous = { status: refund.status, failure_reason: refund.failure_reason ?? null };
  refund.status = 'failed';
  refund.failure_reason = optionalString(ctx.params, 'failure_reason') ?? 'expired_or_canceled_card';
  refund.failure_balance_transaction = `txn_${refund.id.slice(3)}_failure`;
  const charge = ctx.state.charges.get(refund.charge as string);
  if (charge) {
    charge.amount_refunded -= refund.amount;
    charge.refunded = false;
  }
  ctx.emit('refund.updated', refund, previous);
  ctx.emit('refund.failed', refund, previous);
  return refund;
}

function closeDisputeRoute(ctx: ApiContext, path: PathParams): Stripe.Dispute {
  checkParams(ctx.params, { outcome: true });
  const outcome = oneOf(ctx.params, 'outcome', ['won', 'lost'] as const);
  if (!outcome) throw invalidRequest('Missing required param: outcome (won or lost).', { param: 'outcome' });
  return closeDispute(ctx, getOrThrow(ctx.state.disputes, 'dispute', path.id), outcome);
}

export function registerTestHelperRoutes(router: Router, deps: TestHelperDeps): void {
  const { delivery } = deps;
  router
    .post('/_test/payment_intents/:id/authenticate', authenticatePaymentIntent)
    .post('/_test/setup_intents/:id/authenticate', authenticateSetupIntent)
    .post('/_test/charges/:id/dispute', disputeCharge)
    .post('/_test/disputes/:id/close', closeDisputeRoute)
    .post('/_test/refunds/:id/fail', failRefund)
    .post('/_test/events/:id/redeliver', (ctx, path) => {
      checkParams(ctx.params, {});
      const event = getOrThrow(ctx.state.events, 'event', path.id);
      const record = delivery.enqueue(event, true);
      if (!record) throw invalidRequest('Webhook delivery is off: set STRIPE_WEBHOOK_URL.');
      return record;
    })
    // Stripe forgets a key after 24 hours: a test plays that without waiting (the objects stay).
    .post('/_test/idempotency_keys/expire', (ctx) => {
      checkParams(ctx.params, { key: true });
      const key = optionalString(ctx.params, 'key');
      if (!key) throw invalidRequest('Missing required param: key.', { param: 'key' });
      return { key, expired: deps.forgetIdempotencyKey(key) };
    })
    .get('/_test/webhook_deliveries', (ctx) => {
      checkParams(ctx.params, { event_id: true, type: true, status: true });
      const eventId = optionalString(ctx.params, 'event_id');
      const type = optionalString(ctx.params, 'type');
      const status = optionalString(ctx.params, 'status');
      const data = delivery
        .list()
        .filter(
          (record) =>
            (!eventId || record.event_id === eventId) &&
            (!type || record.event_type === type) &&
            (!status || record.status === status),
        );
      return {
        object: 'list',
        data,
        has_more: false,
        url: '/_test/webhook_deliveries',
        webhooks_enabled: delivery.enabled,
      };
    })
    .get('/_test/cards', () => ({
      object: 'list',
      data: TEST_CARDS.map((card) => ({
        payment_method: `pm_card_${card.name}`,
        token: `tok_${card.name}`,
        number: card.number,
        brand: card.brand,
        decline: card.decline ?? null,
        authentication: card.authentication ?? null,
        dispute_after_charge: Boolean(card.disputeAfterCharge),
      })),
      has_more: false,
      url: '/_test/cards',
    }))
    .post('/_test/reset', () => {
      deps.reset();
      return { reset: true };
    });
}
