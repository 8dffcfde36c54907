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

/** Ids recently asked for, by "<period> <day>": a usage batch asks once per limited key, almost always about today. */
const periodIdsByDay = new Map<string, string>();

/** The id of the `period` (day, ISO week or month) containing a UTC calendar day (yyyy-mm-dd). */
export function spendPeriodIdOfDay(period: KeyLimitPeriod, day: string): string {
  const cacheKey = `${period} ${day}`;
  let id = periodIdsByDay.get(cacheKey);
  if (id === undefined) {
    id = spendPeriodAt(period, Date.parse(`${day}T00:00:00Z`)).id;
    // Events are at most 35 days old: a few dozen days in use at once, so a full map is simply dropped.
    if (periodIdsByDay.size >= 1_000) periodIdsByDay.clear();
    periodIdsByDay.set(cacheKey, id);
  }
  return id;
}

/** yyyy-mm-dd of the UTC day holding `ms`. */
export function isoDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}
