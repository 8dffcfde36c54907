import type Stripe from 'stripe';
import { CardDecline } from '../cards/test-cards';
import { ApiContext } from '../core/api-context';
import { newId, randomToken, unixNow } from '../core/ids';

export interface ChargeAttempt {
  paymentIntent: Stripe.PaymentIntent;
  paymentMethod: Stripe.PaymentMethod;
  /** Undefined: the issuer approved. */
  decline?: CardDecline;
  /** The customer completed 3D Secure for this payment. */
  authenticated: boolean;
}

function outcomeOf(decline: CardDecline | undefined): Stripe.Charge.Outcome {
  if (!decline) {
    return {
      advice_code: null,
      network_advice_code: null,
      network_decline_code: null,
      network_status: 'approved_by_network',
      reason: null,
      risk_level: 'normal',
      risk_score: 20,
      seller_message: 'Payment complete.',
      type: 'authorized',
    };
  }
  return {
    advice_code: decline.declineCode === 'insufficient_funds' ? 'try_again_later' : 'do_not_try_again',
    network_advice_code: null,
    network_decline_code: null,
    network_status: 'declined_by_network',
    reason: decline.declineCode,
    risk_level: 'normal',
    risk_score: 20,
    seller_message: 'The bank did not return any further details with this decline.',
    type: 'issuer_declined',
  };
}

function threeDSecure(authenticated: boolean): Stripe.Charge.PaymentMethodDetails.Card.ThreeDSecure | null {
  if (!authenticated) return null;
  return {
    authentication_flow: 'challenge',
    electronic_commerce_indicator: '05',
    exemption_indicator: null,
    result: 'authenticated',
    result_reason: null,
    transaction_id: randomToken(32),
    version: '2.2.0',
  };
}

/**
 * Records the Charge of one payment attempt, succeeded or failed, and emits charge.succeeded or
 * charge.failed. A failed attempt keeps its Charge, as in Stripe (`latest_charge` points at it).
 */
export function createCharge(ctx: ApiContext, attempt: ChargeAttempt): Stripe.Charge {
  const { paymentIntent, paymentMethod, decline, authenticated } = attempt;
  const card = paymentMethod.card!;
  const succeeded = !decline;
  const charge: Stripe.Charge = {
    id: newId('ch'),
    object: 'charge',
    amount: paymentIntent.amount,
    amount_captured: succeeded ? paymentIntent.amount : 0,
    amount_refunded: 0,
    application: null,
    application_fee: null,
    application_fee_amount: null,
    balance_transaction: succeeded ? newId('txn') : null,
    billing_details: structuredClone(paymentMethod.billing_details),
    calculated_statement_descriptor: 'BILLING TEST SERVER',
    captured: succeeded,
    created: unixNow(),
    currency: paymentIntent.currency,
    customer: paymentIntent.customer,
    description: paymentIntent.description,
    disputed: false,
    failure_balance_transaction: null,
    failure_code: decline?.code ?? null,
    failure_message: decline?.message ?? null,
    fraud_details: {},
    livemode: false,
    metadata: { ...paymentIntent.metadata },
    on_behalf_of: null,
    outcome: outcomeOf(decline),
    paid: succeeded,
    payment_intent: paymentIntent.id,
    payment_method: paymentMethod.id,
    payment_method_details: {
      type: 'card',
      card: {
        amount_authorized: succeeded ? paymentIntent.amount : null,
        authorization_code: succeeded ? String(100000 + Math.floor(Math.random() * 900000)) : null,
        brand: card.brand,
        checks: card.checks,
        country: card.country,
        electronic_commerce_indicator: null,
        exp_month: card.exp_month,
        exp_year: card.exp_year,
        extended_authorization: { status: 'disabled' },
        fingerprint: card.fingerprint,
        funding: card.funding,
        incremental_authorization: { status: 'unavailable' },
        installments: null,
        last4: card.last4,
        mandate: null,
        multicapture: { status: 'unavailable' },
        network: card.brand,
        network_token: { used: false },
        network_transaction_id: randomToken(15),
        overcapture: { maximum_amount_capturable: paymentIntent.amount, status: 'unavailable' },
        regulated_status: 'unregulated',
        three_d_secure: threeDSecure(authenticated),
        transaction_link_id: null,
        wallet: null,
      },
    },
    receipt_email: paymentIntent.receipt_email,
    receipt_number: null,
    receipt_url: null,
    refunded: false,
    review: null,
    shipping: null,
    source: null,
    source_transfer: null,
    statement_descriptor: null,
    statement_descriptor_suffix: paymentIntent.statement_descriptor_suffix,
    status: succeeded ? 'succeeded' : 'failed',
    transfer_data: null,
    transfer_group: null,
  };
  ctx.state.charges.set(charge.id, charge);
  ctx.emit(succeeded ? 'charge.succeeded' : 'charge.failed', charge);
  return charge;
}
