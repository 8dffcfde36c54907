import type Stripe from 'stripe';
import { CardDecline } from '../cards/test-cards';
import { ApiContext } from '../core/api-context';
import { docUrl, StripeApiError } from '../core/api-error';
import { newId, unixNow } from '../core/ids';
import { createCharge } from './charges.service';
import { createDispute } from './disputes.service';
import { attachPaymentMethod, behaviourOf } from './payment-methods.service';

export const AUTHENTICATION_REQUIRED: CardDecline = {
  code: 'authentication_required',
  declineCode: 'authentication_required',
  message: 'Your card was declined. This transaction requires authentication.',
  atSetup: false,
};

export interface ConfirmOptions {
  /** The customer is not present: a payment that needs 3DS fails instead of asking. */
  offSession: boolean;
  /** The customer has just completed 3DS for this payment (test helper). */
  authenticated?: boolean;
}

/**
 * One payment attempt of a PaymentIntent that has a payment method, following the test card:
 * succeeded (with a Charge), requires_action (3DS, on-session), or declined — then the intent goes
 * back to requires_payment_method and the caller gets Stripe's 402 card_error.
 */
export function attemptPayment(
  ctx: ApiContext,
  paymentIntent: Stripe.PaymentIntent,
  options: ConfirmOptions,
): Stripe.PaymentIntent {
  const paymentMethod = ctx.state.paymentMethods.get(paymentIntent.payment_method as string)!;
  const card = behaviourOf(ctx, paymentMethod.id);
  const setUpForOffSession = options.offSession && ctx.state.authenticatedForOffSession.has(paymentMethod.id);
  const needsAuthentication =
    card.authentication === 'every_payment' ||
    (card.authentication === 'unless_set_up' && !setUpForOffSession);

  if (needsAuthentication && !options.authenticated) {
    if (options.offSession) return decline(ctx, paymentIntent, paymentMethod, AUTHENTICATION_REQUIRED);
    return requireAction(ctx, paymentIntent);
  }
  if (card.decline) return decline(ctx, paymentIntent, paymentMethod, card.decline);

  const charge = createCharge(ctx, {
    paymentIntent,
    paymentMethod,
    authenticated: Boolean(options.authenticated),
  });
  Object.assign(paymentIntent, {
    status: 'succeeded',
    amount_received: paymentIntent.amount,
    latest_charge: charge.id,
    next_action: null,
    last_payment_error: null,
  });
  if (paymentIntent.setup_future_usage && paymentIntent.customer && paymentMethod.customer === null) {
    attachPaymentMethod(ctx, paymentMethod, paymentIntent.customer as string);
  }
  ctx.emit('payment_intent.succeeded', paymentIntent);
  if (card.disputeAfterCharge) createDispute(ctx, charge);
  return paymentIntent;
}

function requireAction(ctx: ApiContext, paymentIntent: Stripe.PaymentIntent): Stripe.PaymentIntent {
  paymentIntent.status = 'requires_action';
  paymentIntent.next_action = {
    type: 'use_stripe_sdk',
    use_stripe_sdk: {
      type: 'three_d_secure_redirect',
      source: newId('src'),
      // Not Stripe.js: the test helper that plays the customer finishing 3DS.
      stripe_js: `${ctx.baseUrl}/_test/payment_intents/${paymentIntent.id}/authenticate`,
    },
  };
  ctx.emit('payment_intent.requires_action', paymentIntent);
  return paymentIntent;
}

function decline(
  ctx: ApiContext,
  paymentIntent: Stripe.PaymentIntent,
  paymentMethod: Stripe.PaymentMethod,
  cardDecline: CardDecline,
): never {
  const charge = createCharge(ctx, {
    paymentIntent,
    paymentMethod,
    decline: cardDecline,
    authenticated: false,
  });
  const error: Stripe.PaymentIntent.LastPaymentError = {
    type: 'card_error',
    charge: charge.id,
    code: cardDecline.code,
    decline_code: cardDecline.declineCode,
    doc_url: docUrl(cardDecline.code),
    message: cardDecline.message,
    payment_method: structuredClone(paymentMethod),
    payment_method_type: 'card',
  };
  failAttempt(ctx, paymentIntent, error, charge.id);
  throw new StripeApiError(402, {
    ...error,
    type: 'card_error',
    message: cardDecline.message,
    payment_intent: structuredClone(paymentIntent),
  });
}

/** Back to requires_payment_method: Stripe drops the failed PaymentMethod from the intent. */
export function failAttempt(
  ctx: ApiContext,
  paymentIntent: Stripe.PaymentIntent,
  error: Stripe.PaymentIntent.LastPaymentError,
  chargeId?: string,
): void {
  Object.assign(paymentIntent, {
    status: 'requires_payment_method',
    payment_method: null,
    next_action: null,
    last_payment_error: error,
    latest_charge: chargeId ?? paymentIntent.latest_charge,
  });
  ctx.emit('payment_intent.payment_failed', paymentIntent);
}

export function cancelPaymentIntent(
  ctx: ApiContext,
  paymentIntent: Stripe.PaymentIntent,
  reason: Stripe.PaymentIntent.CancellationReason | null,
): Stripe.PaymentIntent {
  Object.assign(paymentIntent, {
    status: 'canceled',
    canceled_at: unixNow(),
    cancellation_reason: reason,
    next_action: null,
  });
  ctx.emit('payment_intent.canceled', paymentIntent);
  return paymentIntent;
}
