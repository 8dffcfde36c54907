import { KeyLimitPeriod } from '@app/catalog';

export interface SpendPeriod {
  /** Short id used in Redis counter names: d:2026-11-26, w:2026-11-23 (the Monday), m:2026-11. */
  id: string;
  start: Date;
  end: Date;
}

const DAY_MS = 86_400_000;

/** The UTC period of `period` kind that contains `atMs`. Weeks are ISO weeks: Monday 00:00 UTC. */
export function spendPeriodAt(period: KeyLimitPeriod, atMs: number): SpendPeriod {
  const at = new Date(atMs);
  const dayStart = Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate());
  if (period === 'daily') {
    return { id: `d:${isoDay(dayStart)}`, start: new Date(dayStart), end: new Date(dayStart + DAY_MS) };
  }
  if (period === 'weekly') {
    const sinceMonday = (at.getUTCDay() + 6) % 7;
    const start = dayStart - sinceMonday * DAY_MS;
    return { id: `w:${isoDay(start)}`, start: new Date(start), end: new Date(start + 7 * DAY_MS) };
  }
  const start = Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), 1);
  const end = Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + 1, 1);
  return { id: `m:${isoDay(start).slice(0, 7)}`, start: new Date(start), end: new Date(end) };
}

/** The ids of the day, week and month containing a UTC calendar day (yyyy-mm-dd). */
export function spendPeriodIdsOfDay(day: string): string[] {
  const ms = Date.parse(`${day}T00:00:00Z`);
  return (['daily', 'weekly', 'monthly'] as const).map((period) => spendPeriodAt(period, ms).id);
}

function isoDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}
