import {
  divRoundHalfUp,
  monthPeriodOf,
  percentUsed,
  previousMonthId,
  project,
  RUN_OUT_HORIZON_MS,
  runsOutAt,
  thresholdMicros,
} from './projections';

describe('projections', () => {
  // Thursday 2026-11-26 18:00 UTC: 4 days 6 hours (102 h) left in November.
  const now = new Date('2026-11-26T18:00:00.000Z');

  it('projects a steady history by hand', () => {
    // $14 in the last 7 days ($2/day), $3 in the last 24 h, $40 this month, $10 left.
    const sut = project({
      now,
      balanceMicros: 10_000_000n,
      balanceFloorMicros: 0n,
      monthToDateMicros: 40_000_000n,
      usageLast24hMicros: 3_000_000n,
      usageLast7dMicros: 14_000_000n,
    });
    expect(sut.burnRate24hMicros).toBe(3_000_000n);
    expect(sut.burnRate7dMicros).toBe(2_000_000n);
    // $10 at $2/day = 5 days; at $3/day = 3 days 8 hours.
    expect(sut.runsOutAt?.toISOString()).toBe('2026-12-01T18:00:00.000Z');
    expect(sut.runsOutAt24h?.toISOString()).toBe('2026-11-30T02:00:00.000Z');
    // 40 + 2 x 4.25 days = 48.5
    expect(sut.projectedMonthEndMicros).toBe(48_500_000n);
  });

  it('rounds the 7-day rate and the month-end addition half up', () => {
    // 10 micros / 7 = 1.43 -> 1; 11 / 7 = 1.57 -> 2
    expect(
      project({
        now,
        balanceMicros: 0n,
        balanceFloorMicros: 0n,
        monthToDateMicros: 0n,
        usageLast24hMicros: 0n,
        usageLast7dMicros: 10n,
      }).burnRate7dMicros,
    ).toBe(1n);
    expect(
      project({
        now,
        balanceMicros: 0n,
        balanceFloorMicros: 0n,
        monthToDateMicros: 0n,
        usageLast24hMicros: 0n,
        usageLast7dMicros: 11n,
      }).burnRate7dMicros,
    ).toBe(2n);
    // 7 micros in 7 days, 4.25 days left: 4.25 -> 4; 14 micros: 8.5 -> 9
    expect(
      project({
        now,
        balanceMicros: 0n,
        balanceFloorMicros: 0n,
        monthToDateMicros: 100n,
        usageLast24hMicros: 0n,
        usageLast7dMicros: 7n,
      }).projectedMonthEndMicros,
    ).toBe(104n);
    expect(
      project({
        now,
        balanceMicros: 0n,
        balanceFloorMicros: 0n,
        monthToDateMicros: 100n,
        usageLast24hMicros: 0n,
        usageLast7dMicros: 14n,
      }).projectedMonthEndMicros,
    ).toBe(109n);
  });

  it('has no run-out date without usage, and now for an empty balance', () => {
    const sut = project({
      now,
      balanceMicros: 5n,
      balanceFloorMicros: 0n,
      monthToDateMicros: 0n,
      usageLast24hMicros: 0n,
      usageLast7dMicros: 0n,
    });
    expect(sut.runsOutAt).toBeNull();
    expect(sut.runsOutAt24h).toBeNull();
    expect(sut.projectedMonthEndMicros).toBe(0n);
    expect(runsOutAt(now, -3n, 1_000n, 86_400_000)).toEqual(now);
  });

  it('projects an account on invoice billing down to its credit limit, not to zero', () => {
    // $50 of a $100 credit line used (balance -$50) at $2/day (7 days) and $5/day (24 h): the
    // remaining $50 lasts 25 days and 10 days.
    const sut = project({
      now,
      balanceMicros: -50_000_000n,
      balanceFloorMicros: -100_000_000n,
      monthToDateMicros: 50_000_000n,
      usageLast24hMicros: 5_000_000n,
      usageLast7dMicros: 14_000_000n,
    });
    expect(sut.balanceMicros).toBe(-50_000_000n);
    expect(sut.runsOutAt?.toISOString()).toBe('2026-12-21T18:00:00.000Z');
    expect(sut.runsOutAt24h?.toISOString()).toBe('2026-12-06T18:00:00.000Z');
  });

  it('projects now for an account on invoice billing at or below its credit limit', () => {
    for (const balanceMicros of [-100_000_000n, -100_000_001n]) {
      const sut = project({
        now,
        balanceMicros,
        balanceFloorMicros: -100_000_000n,
        monthToDateMicros: 100_000_000n,
        usageLast24hMicros: 1n,
        usageLast7dMicros: 1n,
      });
      expect({ balanceMicros, at: sut.runsOutAt }).toEqual({ balanceMicros, at: now });
      expect({ balanceMicros, at: sut.runsOutAt24h }).toEqual({ balanceMicros, at: now });
    }
    // One micro above the floor at one micro a day lasts a day.
    const sut = project({
      now,
      balanceMicros: -99_999_999n,
      balanceFloorMicros: -100_000_000n,
      monthToDateMicros: 0n,
      usageLast24hMicros: 1n,
      usageLast7dMicros: 7n,
    });
    expect(sut.runsOutAt24h?.getTime()).toBe(now.getTime() + 86_400_000);
    expect(sut.runsOutAt?.getTime()).toBe(now.getTime() + 86_400_000);
  });

  it('rounds the run-out instant down to the millisecond', () => {
    // 1 micro at 3 micros/day = 28,800,000 ms; 1 micro at 7 per 7 days = 86,400,000 ms; 2 at 3/day = 57,600,000
    expect(runsOutAt(now, 1n, 3n, 86_400_000)?.getTime()).toBe(now.getTime() + 28_800_000);
    expect(runsOutAt(now, 1n, 7_000_000n, 86_400_000)?.getTime()).toBe(now.getTime() + 12);
  });

  it('has no run-out date beyond 100 years, rounding down to the horizon first', () => {
    const horizon = BigInt(RUN_OUT_HORIZON_MS);
    const atHorizon = now.getTime() + RUN_OUT_HORIZON_MS;
    // 1 micro per millisecond: the balance in micros is the offset in ms.
    expect(runsOutAt(now, horizon - 1n, 1n, 1)?.getTime()).toBe(atHorizon - 1);
    expect(runsOutAt(now, horizon, 1n, 1)?.getTime()).toBe(atHorizon);
    expect(runsOutAt(now, horizon + 1n, 1n, 1)).toBeNull();
    // 2 micros per ms: horizon + 0.5 ms rounds down to the horizon; horizon + 1 ms is past it.
    expect(runsOutAt(now, 2n * horizon + 1n, 2n, 1)?.getTime()).toBe(atHorizon);
    expect(runsOutAt(now, 2n * horizon + 2n, 2n, 1)).toBeNull();
    // 36,525 days at 1 micro a day is the horizon; one micro more is not.
    expect(runsOutAt(now, 36_525n, 1n, 86_400_000)?.getTime()).toBe(atHorizon);
    expect(runsOutAt(now, 36_526n, 1n, 86_400_000)).toBeNull();
  });

  it('projects no run-out date for a large balance with tiny usage, where Date would be invalid', () => {
    // $10,000 and 90 micros of usage: 10^10 x 7 days / 90 is about 6.7e16 ms, beyond Date's 8.64e15.
    const sut = project({
      now,
      balanceMicros: 10_000_000_000n,
      balanceFloorMicros: 0n,
      monthToDateMicros: 90n,
      usageLast24hMicros: 90n,
      usageLast7dMicros: 90n,
    });
    expect(sut.runsOutAt).toBeNull();
    expect(sut.runsOutAt24h).toBeNull();
    // The largest balance the ledger allows, at one micro a week.
    expect(runsOutAt(now, 100_000_000_000_000_000n, 1n, 7 * 86_400_000)).toBeNull();
  });

  it('uses calendar months in UTC', () => {
    const sut = monthPeriodOf(new Date('2026-12-31T23:59:59.999Z'));
    expect(sut).toEqual({
      id: '2026-12',
      start: new Date('2026-12-01T00:00:00.000Z'),
      end: new Date('2027-01-01T00:00:00.000Z'),
    });
    expect(previousMonthId(monthPeriodOf(new Date('2027-01-01T00:00:00.000Z')))).toBe('2026-12');
  });

  it('reaches a threshold at the smallest spend that is at least that percent', () => {
    expect(thresholdMicros(10_000_000n, 50)).toBe(5_000_000n);
    expect(thresholdMicros(1_000_001n, 50)).toBe(500_001n); // 500,000.5 rounded up
    expect(thresholdMicros(3n, 75)).toBe(3n); // 2.25 -> 3
  });

  it('shows percent used with two decimals, half up', () => {
    expect(percentUsed(387_600_000n, 500_000_000n)).toBe('77.52');
    expect(percentUsed(1n, 3n)).toBe('33.33');
    expect(percentUsed(2n, 3n)).toBe('66.67');
    expect(percentUsed(0n, 3n)).toBe('0.00');
    expect(percentUsed(15_000_000n, 10_000_000n)).toBe('150.00');
  });

  it('divides half up', () => {
    expect(divRoundHalfUp(5n, 2n)).toBe(3n);
    expect(divRoundHalfUp(4n, 3n)).toBe(1n);
    expect(() => divRoundHalfUp(-1n, 2n)).toThrow(RangeError);
  });
});
