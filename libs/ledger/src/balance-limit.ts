import { formatUsd } from '@app/money';

/**
 * The most an account's balance may hold: 10^17 micros ($100,000,000,000). A credit that would
 * take it higher is refused. Below it, adding any one amount the API accepts (under 10^18 micros)
 * stays far inside 2^63 (about 9.2 x 10^18), the limit of Postgres bigint and Redis integers:
 * without it, about ten grants of $999,999,999,999 overflowed the balance row (a 500).
 */
export const MAX_BALANCE_MICROS = 100_000_000_000_000_000n;

export class BalanceOutOfRangeError extends Error {
  constructor(readonly accountId: string) {
    super(
      `the balance after this change would exceed ${formatUsd(MAX_BALANCE_MICROS)} USD, the most an account may hold`,
    );
  }
}

/** Postgres numeric_value_out_of_range: a bigint sum overflowed. */
export function isNumericOutOfRange(error: unknown): boolean {
  return (error as { code?: unknown })?.code === '22003';
}
