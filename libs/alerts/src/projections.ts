/**
 * Burn rates and projections, as pure functions of integer micros and one instant (judged e).
 * Every division is written out with its rounding; no floating point touches money.
 *
 * - burn rate over the last 24 h (micros per day) = usage debits with created_at in (now - 24 h, now]
 * - burn rate over the last 7 days (micros per day) = usage debits in (now - 7 d, now] / 7, rounded half up
 * - runs out at (for a rate) = now + (balance - floor) / rate days, rounded down to the millisecond;
 *   computed from the unrounded rate (the 7-day sum over 7 days); the floor is where paid requests
 *   stop: 0, or -credit limit on invoice billing; none when the rate is 0 or the instant is more
 *   than 100 years away; now when the balance is already at the floor or below
 * - projected month-end spend = month-to-date spend + 7-day usage x (time left in the UTC month)
 *   / 7 days, the added part rounded half up to a micro
 */

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;
const WEEK_MS = 7 * DAY_MS;
/**
 * Run-out instants further away than this are none ("not at this rate"): a large balance with a
 * few micros of usage lands beyond Date's range (±8.64e15 ms), and an Invalid Date throws in
 * toISOString inside the usage batch's, or the auto-reload's, transaction.
 */
export const RUN_OUT_HORIZON_MS = 36_525 * DAY_MS;

/** A budget period: a calendar month in UTC, [start, end). */
export interface MonthPeriod {
  /** "YYYY-MM" */
  id: string;
  start: Date;
  end: Date;
}

export function monthPeriodOf(at: Date): MonthPeriod {
  const year = at.getUTCFullYear();
  const month = at.getUTCMonth();
  return {
    id: `${year}-${String(month + 1).padStart(2, '0')}`,
    start: new Date(Date.UTC(year, month, 1)),
    end: new Date(Date.UTC(year, month + 1, 1)),
  };
}

/** The period before `period` (for dropping counters of months no batch can still add to). */
export function previousMonthId(period: MonthPeriod): string {
  return monthPeriodOf(new Date(period.start.getTime() - 1)).id;
}

/** a / b for a >= 0, b > 0, rounded half up. */
export function divRoundHalfUp(a: bigint, b: bigint): bigint {
  if (a < 0n || b <= 0n) throw new RangeError('divRoundHalfUp needs a >= 0 and b > 0');
  return (2n * a + b) / (2n * b);
}

export interface ProjectionInput {
  now: Date;
  balanceMicros: bigint;
  /** The lowest balance usage can reach: 0, or -credit limit on invoice billing (balanceFloorMicros). */
  balanceFloorMicros: bigint;
  /** Usage charged this UTC month so far. */
  monthToDateMicros: bigint;
  usageLast24hMicros: bigint;
  usageLast7dMicros: bigint;
}

export interface Projection {
  asOf: Date;
  balanceMicros: bigint;
  burnRate24hMicros: bigint;
  burnRate7dMicros: bigint;
  /** At the 7-day rate; null when nothing was spent in 7 days, or more than 100 years away. */
  runsOutAt: Date | null;
  /** At the 24-hour rate; null when nothing was spent in 24 hours, or more than 100 years away. */
  runsOutAt24h: Date | null;
  monthToDateMicros: bigint;
  projectedMonthEndMicros: bigint;
}

/**
 * When `available` (the balance above its floor) lasts at `micros` spent per `windowMs` (a rate of
 * micros / window); null beyond RUN_OUT_HORIZON_MS. The offset stays a bigint until it is known to
 * be in range.
 */
export function runsOutAt(now: Date, available: bigint, micros: bigint, windowMs: number): Date | null {
  if (micros <= 0n) return null;
  if (available <= 0n) return now;
  const offsetMs = (available * BigInt(windowMs)) / micros;
  if (offsetMs > BigInt(RUN_OUT_HORIZON_MS)) return null;
  return new Date(now.getTime() + Number(offsetMs));
}

export function project(input: ProjectionInput): Projection {
  const { now, balanceMicros } = input;
  const available = balanceMicros - input.balanceFloorMicros;
  const remainingMs = BigInt(monthPeriodOf(now).end.getTime() - now.getTime());
  return {
    asOf: now,
    balanceMicros,
    burnRate24hMicros: input.usageLast24hMicros,
    burnRate7dMicros: divRoundHalfUp(input.usageLast7dMicros, 7n),
    runsOutAt: runsOutAt(now, available, input.usageLast7dMicros, WEEK_MS),
    runsOutAt24h: runsOutAt(now, available, input.usageLast24hMicros, DAY_MS),
    monthToDateMicros: input.monthToDateMicros,
    projectedMonthEndMicros:
      input.monthToDateMicros + divRoundHalfUp(input.usageLast7dMicros * remainingMs, BigInt(WEEK_MS)),
  };
}

/** Percent of a budget used, with two decimals, rounded half up: "77.52". */
export function percentUsed(spendMicros: bigint, budgetMicros: bigint): string {
  const hundredths = divRoundHalfUp((spendMicros < 0n ? 0n : spendMicros) * 10_000n, budgetMicros);
  return `${hundredths / 100n}.${String(hundredths % 100n).padStart(2, '0')}`;
}

/**
 * The spend at which `percent` of `budget` is reached: the smallest integer s with
 * s * 100 >= budget * percent (rounded up), so "crossed" means exactly "spend >= percent %".
 */
export function thresholdMicros(budgetMicros: bigint, percent: number): bigint {
  const product = budgetMicros * BigInt(percent);
  return (product + 99n) / 100n;
}
