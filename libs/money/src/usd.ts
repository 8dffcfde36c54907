/**
 * Money is kept as integer micro-dollars ("micros", 1 USD = 1,000,000 micros) everywhere:
 * Postgres bigint, Redis integers, TypeScript bigint. The HTTP API shows it as a decimal
 * string with exactly six fractional digits, so every API amount is an exact micro value.
 */
export const MICROS_PER_USD = 1_000_000n;

const USD_PATTERN = /^(-)?(\d{1,12})(?:\.(\d{1,6}))?$/;

export class MoneyFormatError extends Error {
  constructor(readonly input: unknown) {
    super('must be a decimal string in USD with at most 6 decimal places, e.g. "12.50"');
  }
}

/** Parses a USD decimal string ("12.5", "0.000150") into micros. Rejects floats, exponents and >6 decimals. */
export function parseUsd(input: unknown): bigint {
  if (typeof input !== 'string') throw new MoneyFormatError(input);
  const match = USD_PATTERN.exec(input);
  if (!match) throw new MoneyFormatError(input);
  const [, sign, whole, fraction = ''] = match;
  const micros = BigInt(whole) * MICROS_PER_USD + BigInt(fraction.padEnd(6, '0'));
  return sign ? -micros : micros;
}

/** Formats micros as a USD decimal string with six fractional digits: 150n -> "0.000150". */
export function formatUsd(micros: bigint | number): string {
  const value = BigInt(micros);
  const negative = value < 0n;
  const abs = negative ? -value : value;
  const whole = abs / MICROS_PER_USD;
  const fraction = (abs % MICROS_PER_USD).toString().padStart(6, '0');
  return `${negative ? '-' : ''}${whole}.${fraction}`;
}
