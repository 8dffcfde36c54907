import type Stripe from 'stripe';
import { ApiContext } from '../core/api-context';
import { invalidRequest } from '../core/api-error';
import { newId, randomToken, unixNow } from '../core/ids';
import { LIST_PARAMS, paginate } from '../core/list';
import { applyMetadata, checkParams, oneOf, optionalInteger, optionalString } from '../core/params';
import { getOrThrow } from '../core/state';
import { PathParams, Router } from '../http/router';

/** The Charge a refund request points at, directly or through its PaymentIntent. */
function refundableCharge(ctx: ApiContext): Stripe.Charge {
  const paymentIntentId = optionalString(ctx.params, 'payment_intent');
  const chargeId = optionalString(ctx.params, 'charge');
  if (!paymentIntentId && !chargeId) {
    throw invalidRequest(
      'One of the following params should be provided for this request: payment_intent or charge.',
    );
  }
  let charge: Stripe.Charge | undefined;
  if (paymentIntentId) {
    const paymentIntent = getOrThrow(
      ctx.state.paymentIntents,
      'payment_intent',
      paymentIntentId,
      'payment_intent',
    );
    if (paymentIntent.status !== 'succeeded' || !paymentIntent.latest_charge) {
      throw invalidRequest(
        `This PaymentIntent (${paymentIntentId}) does not have a successful charge to refund.`,
        {
          param: 'payment_intent',
        },
      );
    }
    charge = ctx.state.charges.get(paymentIntent.latest_charge as string)!;
    if (chargeId && chargeId !== charge.id) {
      throw invalidRequest(`Charge ${chargeId} does not belong to PaymentIntent ${paymentIntentId}.`, {
        param: 'charge',
      });
    }
  } else {
    charge = getOrThrow(ctx.state.charges, 'charge', chargeId!, 'charge');
  }
  if (charge.status !== 'succeeded') {
    throw invalidRequest(`Charge ${charge.id} did not succeed, so there is nothing to refund.`, {
      param: 'charge',
    });
  }
  if (charge.disputed) {
    throw invalidRequest(`Charge ${charge.id} has been charged back; cannot issue a refund.`, {
      code: 'charge_disputed',
    });
  }
  return charge;
}

/**
 * Partial or full refund of a succeeded charge. Refunds succeed at once; more than the unrefunded
 * remainder is refused (400), as in Stripe.
 */
function create(ctx: ApiContext): Stripe.Refund {
  const { params } = ctx;
  checkParams(params, {
    payment_intent: true,
    charge: true,
    amount: true,
    reason: true,
    metadata: true,
    instructions_email: true,
  });
  const charge = refundableCharge(ctx);
  const remaining = charge.amount - charge.amount_refunded;
  if (remaining === 0) {
    throw invalidRequest(`Charge ${charge.id} has already been refunded.`, {
      code: 'charge_already_refunded',
    });
  }
  const amount = optionalInteger(params, 'amount') ?? remaining;
  if (amount < 1) throw invalidRequest('Invalid positive integer', { param: 'amount' });
  if (amount > remaining) {
    throw invalidRequest(
      `Refund amount (${amount} ${charge.currency}) is greater than unrefunded amount on charge (${remaining} ${charge.currency})`,
      { param: 'amount', code: 'amount_too_large' },
    );
  }
  const reason =
    oneOf(params, 'reason', ['duplicate', 'fraudulent', 'requested_by_customer'] as const) ?? null;
  const refund: Stripe.Refund = {
    id: newId('re'),
    object: 'refund',
    amount,
    balance_transaction: newId('txn'),
    charge: charge.id,
    created: unixNow(),
    currency: charge.currency,
    customer: charge.customer,
    customer_account: null,
    destination_details: {
      card: {
        reference: randomToken(23),
        reference_status: 'available',
        reference_type: 'acquirer_reference_number',
        type: 'refund',
      },
      type: 'card',
    },
    metadata: applyMetadata({}, params),
    payment_intent: charge.payment_intent,
    payment_method: charge.payment_method,
    reason,
    receipt_number: null,
    source_transfer_reversal: null,
    status: 'succeeded',
    transfer_reversal: null,
  };
  ctx.state.refunds.set(refund.id, refund);
  const previous = { amount_refunded: charge.amount_refunded, refunded: charge.refunded };
  charge.amount_refunded += amount;
  charge.refunded = charge.amount_refunded === charge.amount;
  ctx.emit('refund.created', refund);
  ctx.emit('charge.refunded', charge, previous);
  return refund;
}

function retrieve(ctx: ApiContext, path: PathParams): Stripe.Refund {
  checkParams(ctx.params, {});
  return getOrThrow(ctx.state.refunds, 'refund', path.id);
}

function update(ctx: ApiContext, path: PathParams): Stripe.Refund {
  checkParams(ctx.params, { metadata: true });
  const refund = getOrThrow(ctx.state.refunds, 'refund', path.id);
  const previous = refund.metadata;
  refund.metadata = applyMetadata(refund.metadata ?? {}, ctx.params);
  ctx.emit('refund.updated', refund, { metadata: previous });
  return refund;
}

function list(ctx: ApiContext) {
  checkParams(ctx.params, { ...LIST_PARAMS, charge: true, payment_intent: true });
  const charge = optionalString(ctx.params, 'charge');
  const paymentIntent = optionalString(ctx.params, 'payment_intent');
  const refunds = [...ctx.state.refunds.values()].filter(
    (refund) =>
      (!charge || refund.charge === charge) && (!paymentIntent || refund.payment_intent === paymentIntent),
  );
  return paginate(refunds, ctx.params, '/v1/refunds');
}

export function registerRefundRoutes(router: Router): void {
  router
    .post('/v1/refunds', create)
    .get('/v1/refunds', list)
    .get('/v1/refunds/:id', retrieve)
    .post('/v1/refunds/:id', update);
}
