/** Micros of one cent; statement amounts are whole cents (libs/invoices issue rules). */
const CENT = 10_000n;
const PPM = 1_000_000n;

export interface DiscountTier {
  /** The tier applies to the part of the month's spend at or above this, up to the next tier. */
  fromMicros: bigint;
  /** Parts per million: 5 % is 50,000. */
  discountPpm: number;
}

/**
 * Volume discount on a month's spend, graduated like tax brackets: each tier discounts only the
 * slice of the spend between its `fromMicros` and the next tier's. Spend below the lowest tier
 * is not discounted.
 *
 * Rounding rule: the exact discount (sum over tiers of slice x ppm / 1,000,000) is rounded once,
 * half up, to a whole cent. Integer math throughout.
 */
export function graduatedDiscountMicros(spendMicros: bigint, tiers: readonly DiscountTier[]): bigint {
  if (spendMicros <= 0n) return 0n;
  const sorted = [...tiers].sort((a, b) =>
    a.fromMicros < b.fromMicros ? -1 : a.fromMicros > b.fromMicros ? 1 : 0,
  );
  // In micros x ppm, so nothing is rounded before the end.
  let exact = 0n;
  sorted.forEach((tier, index) => {
    const upper = index + 1 < sorted.length ? sorted[index + 1].fromMicros : spendMicros;
    const top = upper < spendMicros ? upper : spendMicros;
    if (top > tier.fromMicros) exact += (top - tier.fromMicros) * BigInt(tier.discountPpm);
  });
  return roundHalfUp(exact, PPM * CENT) * CENT;
}

/** A non-negative amount of micros rounded half up to whole cents (in micros). */
export function roundToCents(micros: bigint): bigint {
  if (micros < 0n) return -roundToCents(-micros);
  return roundHalfUp(micros, CENT) * CENT;
}

function roundHalfUp(value: bigint, unit: bigint): bigint {
  return (value + unit / 2n) / unit;
}

/** "5" or "2.5" (percent, up to 4 decimals) as parts per million. */
export function discountPercentToPpm(percent: string): number | null {
  const match = /^(\d{1,3})(?:\.(\d{1,4}))?$/.exec(percent);
  if (!match) return null;
  const ppm = Number(match[1]) * 10_000 + Number((match[2] ?? '').padEnd(4, '0'));
  return ppm <= 1_000_000 ? ppm : null;
}

/** Parts per million as a percent string without trailing zeros: 50000 -> "5", 25000 -> "2.5". */
export function discountPpmToPercent(ppm: number): string {
  const whole = Math.floor(ppm / 10_000);
  const fraction = String(ppm % 10_000)
    .padStart(4, '0')
    .replace(/0+$/, '');
  return fraction ? `${whole}.${fraction}` : String(whole);
}
