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
  const recorded = recordedCreditsMicros(refund);
  if (recorded !== null) return recorded;
  const micros = centsToMicros(refund.amount);
  if (purchase.tax_micros === 0n) return micros;
  return roundHalfUpToCents(micros * purchase.amount_micros, purchase.amount_micros + purchase.tax_micros);
}

/**
 * The credits part of each of a purchase's refunds (Stripe's list; succeeded and pending ones
 * count, taken in the order they were made). Ours carry it in their metadata. One made elsewhere
 * takes its share (refundCreditsMicros), capped at the credits the refunds before it left, and
 * the one that returns the last cent of the charge takes all the credits left: shares rounded
 * one by one could add up past the credits bought (1, 6 and 1,076 cents of a $10.83 charge for
 * $10.00 of credits round to 1 + 6 + 994 cents), and that last debit would never fit.
 */
export function refundCreditsByRefund(
  purchase: TaxedPurchase,
  refunds: readonly Stripe.Refund[],
): Map<string, bigint> {
  const chargedMicros = purchase.amount_micros + purchase.tax_micros;
  const credits = new Map<string, bigint>();
  let creditsMicros = 0n;
  let refundedMicros = 0n;
  const counted = refunds
    .filter((refund) => refund.status === 'succeeded' || refund.status === 'pending')
    .sort((a, b) => a.created - b.created || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (const refund of counted) {
    refundedMicros += centsToMicros(refund.amount);
    const left = purchase.amount_micros - creditsMicros;
    const share = refundCreditsMicros(purchase, refund);
    const micros =
      recordedCreditsMicros(refund) ?? (refundedMicros >= chargedMicros ? left : share < left ? share : left);
    credits.set(refund.id, micros > 0n ? micros : 0n);
    creditsMicros += credits.get(refund.id)!;
  }
  return credits;
}

/** The credits and tax of these refunds together (Stripe's list: succeeded and pending ones count). */
export function refundedSoFar(purchase: TaxedPurchase, refunds: readonly Stripe.Refund[]): RefundSplit {
  const credits = refundCreditsByRefund(purchase, refunds);
  let creditsMicros = 0n;
  let taxMicros = 0n;
  for (const refund of refunds) {
    const micros = credits.get(refund.id);
    if (micros === undefined) continue;
    creditsMicros += micros;
    taxMicros += centsToMicros(refund.amount) - micros;
  }
  return { creditsMicros, taxMicros };
}

/** What our refund route wrote in the refund's metadata, if it made it. */
function recordedCreditsMicros(refund: Pick<Stripe.Refund, 'metadata'>): bigint | null {
  const recorded = refund.metadata?.[REFUND_CREDITS_METADATA];
  return recorded !== undefined && /^\d+$/.test(recorded) ? centsToMicros(Number(recorded)) : null;
}

/** numerator / denominator (micros) rounded to whole cents, half up; both non-negative. */
function roundHalfUpToCents(numerator: bigint, denominator: bigint): bigint {
  const divisor = denominator * MICROS_PER_CENT;
  return ((2n * numerator + divisor) / (2n * divisor)) * MICROS_PER_CENT;
}
