import { StripeEnv } from '@app/config';
import { ApiError } from '@app/http';
import { formatUsd, parseUsd } from '@app/money';
import Stripe from 'stripe';

export const STRIPE = Symbol('STRIPE');
export const PAYMENTS_OPTIONS = Symbol('PAYMENTS_OPTIONS');

export interface PaymentsOptions {
  minPurchaseMicros: bigint;
  maxPurchaseMicros: bigint;
  webhookSecret: string;
}

/**
 * The official SDK, pointed at STRIPE_API_URL (the repo's Stripe-compatible test server by
 * default) or at Stripe itself when that is empty. The SDK retries network failures with the
 * same idempotency key, so a retried create never charges twice.
 */
export function createStripeClient(env: StripeEnv): Stripe {
  const url = env.STRIPE_API_URL ? new URL(env.STRIPE_API_URL) : null;
  return new Stripe(env.STRIPE_SECRET_KEY, {
    telemetry: false,
    maxNetworkRetries: 2,
    timeout: 20_000,
    ...(url
      ? {
          host: url.hostname,
          port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
          protocol: url.protocol === 'https:' ? 'https' : 'http',
        }
      : {}),
  });
}

export function paymentsOptionsFromEnv(env: StripeEnv): PaymentsOptions {
  return {
    minPurchaseMicros: parseUsd(env.PURCHASE_MIN_USD),
    maxPurchaseMicros: parseUsd(env.PURCHASE_MAX_USD),
    webhookSecret: env.STRIPE_WEBHOOK_SECRET,
  };
}

const MICROS_PER_CENT = 10_000n;

/** Stripe charges in cents; credits are micros. Purchases are whole cents, so this is exact. */
export function microsToCents(micros: bigint): number {
  if (micros % MICROS_PER_CENT !== 0n)
    throw new RangeError(`${micros} micros is not a whole number of cents`);
  return Number(micros / MICROS_PER_CENT);
}

export function centsToMicros(cents: number): bigint {
  return BigInt(cents) * MICROS_PER_CENT;
}

/**
 * A purchase or auto-reload amount: whole cents (Stripe charges cents) from PURCHASE_MIN_USD to
 * PURCHASE_MAX_USD, else 422 invalid_amount.
 */
export function checkPurchaseAmount(amountMicros: bigint, options: PaymentsOptions): void {
  const { minPurchaseMicros: min, maxPurchaseMicros: max } = options;
  if (amountMicros < min || amountMicros > max || amountMicros % 10_000n !== 0n) {
    throw new ApiError(
      422,
      'invalid_amount',
      `amount must be whole cents from ${formatUsd(min)} to ${formatUsd(max)} USD`,
    );
  }
}
