/** A calendar month in UTC, the period of one usage statement. */
export interface StatementPeriod {
  /** "2026-10" */
  month: string;
  /** First instant of the month (inclusive). */
  start: Date;
  /** First instant of the next month (exclusive). */
  end: Date;
  /** YYYY-MM-DD of the first and last day, as stored on the invoice. */
  firstDay: string;
  lastDay: string;
}

const MONTH = /^(\d{4})-(0[1-9]|1[0-2])$/;

export function statementPeriod(month: string): StatementPeriod | null {
  const match = MONTH.exec(month);
  if (!match) return null;
  const year = Number(match[1]);
  const index = Number(match[2]) - 1;
  const start = new Date(Date.UTC(year, index, 1));
  const end = new Date(Date.UTC(year, index + 1, 1));
  return {
    month,
    start,
    end,
    firstDay: isoDay(start),
    lastDay: isoDay(new Date(end.getTime() - 86_400_000)),
  };
}

/** The calendar month (UTC) before the one containing `now`. */
export function previousMonth(now: Date): StatementPeriod {
  const start = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1));
  return statementPeriod(`${start.getUTCFullYear()}-${String(start.getUTCMonth() + 1).padStart(2, '0')}`)!;
}

/** YYYY-MM-DD of `date` in UTC. */
export function isoDay(date: Date): string {
  return date.toISOString().slice(0, 10);
}

/** `days` after the UTC day of `date`, as YYYY-MM-DD (net terms). */
export function addDays(date: Date, days: number): string {
  const day = Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate());
  return isoDay(new Date(day + days * 86_400_000));
}
