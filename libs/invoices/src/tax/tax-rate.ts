/** Parts per million in one percent: 7.25 % is 72,500 ppm. */
const PPM_PER_PERCENT = 10_000;

const PERCENT = /^(\d{1,2})(?:\.(\d{1,4}))?$/;

/**
 * "7.25" (percent, as the rate files and TAX_COUNTRY_RATES write it) to 72500 ppm, exactly: the
 * string is split at the point, never parsed as a float. At most 4 decimals, so every rate is a
 * whole number of ppm; below 100 %.
 */
export function percentToPpm(percent: string): number {
  const match = PERCENT.exec(percent.trim());
  if (!match) throw new RangeError(`"${percent}" is not a tax rate in percent with at most 4 decimals`);
  const fraction = (match[2] ?? '').padEnd(4, '0');
  return Number(match[1]) * PPM_PER_PERCENT + Number(fraction);
}

/** 72500 ppm to "7.25" (the API's and the invoice's form); no trailing zeros, at least "0". */
export function ppmToPercent(ppm: number): string {
  const whole = Math.floor(ppm / PPM_PER_PERCENT);
  const fraction = String(ppm % PPM_PER_PERCENT)
    .padStart(4, '0')
    .replace(/0+$/, '');
  return fraction ? `${whole}.${fraction}` : String(whole);
}
