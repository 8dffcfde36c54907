import type Stripe from 'stripe';
import { ApiContext } from '../core/api-context';
import { docUrl, StripeApiError } from '../core/api-error';
import { newId } from '../core/ids';
import { attachPaymentMethod, behaviourOf } from './payment-methods.service';

/**
 * One setup attempt, following the test card: cards declined at setup fail with a 402, cards with
 * 3DS go to requires_action, others succeed and are attached to the SetupIntent's customer.
 */
export function attemptSetup(
  ctx: ApiContext,
  setupIntent: Stripe.SetupIntent,
  options: { authenticated?: boolean } = {},
): Stripe.SetupIntent {
  const paymentMethod = ctx.state.paymentMethods.get(setupIntent.payment_method as string)!;
  const card = behaviourOf(ctx, paymentMethod.id);
  if (card.decline?.atSetup) {
    const error: Stripe.SetupIntent.LastSetupError = {
      type: 'card_error',
      code: card.decline.code,
      decline_code: card.decline.declineCode,
      doc_url: docUrl(card.decline.code),
      message: card.decline.message,
      payment_method: structuredClone(paymentMethod),
      payment_method_type: 'card',
    };
    failSetup(ctx, setupIntent, error);
    throw new StripeApiError(402, {
      ...error,
      type: 'card_error',
      message: card.decline.message,
      setup_intent: structuredClone(setupIntent),
    });
  }
  if (card.authentication && !options.authenticated) {
    setupIntent.status = 'requires_action';
    setupIntent.next_action = {
      type: 'use_stripe_sdk',
      use_stripe_sdk: {
        type: 'three_d_secure_redirect',
        source: newId('src'),
        stripe_js: `${ctx.baseUrl}/_test/setup_intents/${setupIntent.id}/authenticate`,
      },
    };
    ctx.emit('setup_intent.requires_action', setupIntent);
    return setupIntent;
  }
  if (setupIntent.customer) attachPaymentMethod(ctx, paymentMethod, setupIntent.customer as string);
  if (setupIntent.usage === 'off_session') ctx.state.authenticatedForOffSession.add(paymentMethod.id);
  Object.assign(setupIntent, { status: 'succeeded', next_action: null, last_setup_error: null });
  ctx.emit('setup_intent.succeeded', setupIntent);
  return setupIntent;
}

/** Back to requires_payment_method, without the PaymentMethod that failed. */
export function failSetup(
  ctx: ApiContext,
  setupIntent: Stripe.SetupIntent,
  error: Stripe.SetupIntent.LastSetupError,
): void {
  Object.assign(setupIntent, {
    status: 'requires_payment_method',
    payment_method: null,
    next_action: null,
    last_setup_error: error,
  });
  ctx.emit('setup_intent.setup_failed', setupIntent);
}
