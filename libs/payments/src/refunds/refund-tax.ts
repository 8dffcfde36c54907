import Stripe from 'stripe';
import { PurchaseRecord } from '../purchase-records';
import { centsToMicros } from '../stripe-client';

/** Refund metadata: the credits (cents) a refund takes back; the rest of its amount is tax. */
export const REFUND_CREDITS_METADATA = 'credits_amount';

const MICROS_PER_CENT = 10_000n;

export interface RefundSplit {
  /** Credits taken back from the balance. */
  creditsMicros: bigint;
  /** Tax returned with them. */
  taxMicros: bigint;
}

type TaxedPurchase = Pick<PurchaseRecord, 'amount_micros' | 'tax_micros'>;

/**
 * How much tax goes back with a refund of `creditsMicros` credits, so the card gets back what it
 * paid for them. Rounding, in whole cents: a refund that takes back the last of the credits
 * returns all the tax not yet returned (so a full refund, in one go or several, returns exactly
 * the tax charged); any other refund returns tax x credits / amount rounded to the nearest cent,
 * half up, capped at the tax not yet returned, so the refunds' tax never adds up past the tax.
 */
export function splitRefund(
  purchase: TaxedPurchase,
  refunded: RefundSplit,
  creditsMicros: bigint,
): RefundSplit {
  const remainingCredits = purchase.amount_micros - refunded.creditsMicros;
  const remainingTax = purchase.tax_micros - refunded.taxMicros;
  if (creditsMicros <= 0n || creditsMicros > remainingCredits)
    throw new RangeError(`cannot refund ${creditsMicros} of ${remainingCredits} remaining credits`);
  if (creditsMicros === remainingCredits) return { creditsMicros, taxMicros: remainingTax };
  const share = roundHalfUpToCents(purchase.tax_micros * creditsMicros, purchase.amount_micros);
  return { creditsMicros, taxMicros: share < remainingTax ? share : remainingTax };
}

/**
 * The credits part of a Stripe refund of a purchase: what our refund route wrote in its metadata;
 * for a refund made elsewhere (the Stripe dashboard) of an untaxed purchase, all of it; of a
 * taxed one, its amount x amount / (amount + tax), to the nearest cent, half up.
 */
export function refundCreditsMicros(
  purchase: TaxedPurchase,
  refund: Pick<Stripe.Refund, 'amount' | 'metadata'>,
): bigint {
  const recorded = refund.metadata?.[REFUND_CREDITS_METADATA];
  if (recorded !== undefined && /^\d+$/.test(recorded)) return centsToMicros(Number(recorded));
  const micros = centsToMicros(refund.amount);
  if (purchase.tax_micros === 0n) return micros;
  return roundHalfUpToCents(micros * purchase.amount_micros, purchase.amount_micros + purchase.tax_micros);
}

/** The credits and tax of these refunds together (Stripe's list: succeeded and pending ones count). */
export function refundedSoFar(purchase: TaxedPurchase, refunds: readonly Stripe.Refund[]): RefundSplit {
  let creditsMicros = 0n;
  let taxMicros = 0n;
  for (const refund of refunds) {
    if (refund.status !== 'succeeded' && refund.status !== 'pending') continue;
    const credits = refundCreditsMicros(purchase, refund);
    creditsMicros += credits;
    taxMicros += centsToMicros(refund.amount) - credits;
  }
  return { creditsMicros, taxMicros };
}

/** numerator / denominator (micros) rounded to whole cents, half up; both non-negative. */
function roundHalfUpToCents(numerator: bigint, denominator: bigint): bigint {
  const divisor = denominator * MICROS_PER_CENT;
  return ((2n * numerator + divisor) / (2n * divisor)) * MICROS_PER_CENT;
}
