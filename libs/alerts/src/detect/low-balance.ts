/**
 * Low-balance hysteresis: once the alert fired, it re-arms only after a change starts from at
 * least line + margin, margin = max(10 % of the line, $1) (10 % rounded down to a micro). A
 * balance hovering around the line by less than the margin therefore alerts once.
 */
export const LOW_BALANCE_MIN_MARGIN_MICROS = 1_000_000n;

export function lowBalanceRearmMicros(lineMicros: bigint): bigint {
  const tenth = lineMicros / 10n;
  return lineMicros + (tenth > LOW_BALANCE_MIN_MARGIN_MICROS ? tenth : LOW_BALANCE_MIN_MARGIN_MICROS);
}
