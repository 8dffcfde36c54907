import Stripe from 'stripe';

/**
 * What a failed off-session charge means for auto-reload:
 * - `authentication`: the bank wants 3-D Secure; only the card holder, on session, can finish it.
 * - `hard`: the card said no (insufficient funds, expired, lost, ...); trying again soon would
 *   be declined again, so the attempt is recorded and not retried.
 * - `soft`: the decline or error is temporary (processing error, issuer unavailable); retried
 *   with back-off a few times.
 * - `transient`: Stripe could not be reached or asked us to slow down; retried like soft, and
 *   not counted against the card since it says nothing about it.
 */
export type ChargeFailureKind = 'authentication' | 'hard' | 'soft' | 'transient';

export interface ChargeFailure {
  kind: ChargeFailureKind;
  code: string;
  declineCode: string | null;
  message: string | null;
  /** The PaymentIntent the failed attempt belongs to, when Stripe returned one. */
  paymentIntent: Stripe.PaymentIntent | null;
}

/** Decline codes Stripe documents as worth retrying later (https://docs.stripe.com/declines/codes). */
const SOFT_DECLINE_CODES = new Set([
  'processing_error',
  'try_again_later',
  'issuer_not_available',
  'reenter_transaction',
  'approve_with_id',
]);

const SOFT_ERROR_CODES = new Set(['processing_error', 'lock_timeout']);

/** Classifies an error thrown by the SDK for a create or confirm; null when it is not Stripe's. */
export function classifyChargeError(error: unknown): ChargeFailure | null {
  if (!(error instanceof Stripe.errors.StripeError)) return null;
  const code = error.code ?? error.type;
  const declineCode = error.decline_code ?? null;
  const base = {
    code,
    declineCode,
    message: error.message ?? null,
    paymentIntent: error.payment_intent ?? null,
  };
  if (code === 'authentication_required' || declineCode === 'authentication_required')
    return { ...base, kind: 'authentication' };
  if (
    error instanceof Stripe.errors.StripeConnectionError ||
    error instanceof Stripe.errors.StripeAPIError ||
    error instanceof Stripe.errors.StripeRateLimitError ||
    (error.statusCode ?? 0) >= 500
  ) {
    return { ...base, kind: 'transient' };
  }
  if (SOFT_ERROR_CODES.has(code) || (declineCode !== null && SOFT_DECLINE_CODES.has(declineCode)))
    return { ...base, kind: 'soft' };
  // Card errors and invalid requests (a card detached meanwhile, a customer gone) do not heal by waiting.
  return { ...base, kind: 'hard' };
}

/** Classifies the last_payment_error a PaymentIntent kept from an earlier failed attempt. */
export function classifyLastPaymentError(intent: Stripe.PaymentIntent): ChargeFailure {
  const error = intent.last_payment_error;
  const code = error?.code ?? 'payment_failed';
  const declineCode = error?.decline_code ?? null;
  const base = { code, declineCode, message: error?.message ?? null, paymentIntent: intent };
  if (code === 'authentication_required' || declineCode === 'authentication_required')
    return { ...base, kind: 'authentication' };
  if (SOFT_ERROR_CODES.has(code) || (declineCode !== null && SOFT_DECLINE_CODES.has(declineCode)))
    return { ...base, kind: 'soft' };
  return { ...base, kind: 'hard' };
}
