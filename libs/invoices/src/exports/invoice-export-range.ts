import { ApiError, isStorableInstant, parseRfc3339DateTime } from '@app/http';
import { MAX_EXPORT_RANGE_DAYS } from '@app/usage';

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const DAY_MS = 24 * 3600 * 1000;

/** A UTC day read by the strict RFC 3339 parser: a day the calendar lacks (2026-02-30) is 422. */
function dayOf(value: string, name: string): number {
  const ms = DATE.test(value) ? parseRfc3339DateTime(`${value}T00:00:00Z`) : Number.NaN;
  if (Number.isNaN(ms) || !isStorableInstant(ms)) {
    throw new ApiError(422, 'validation_failed', `${name} must be a date YYYY-MM-DD`);
  }
  return ms;
}

/**
 * The issue dates a zip export covers: `from` and `to` both inclusive (UTC days), at most
 * MAX_EXPORT_RANGE_DAYS days.
 */
export function invoiceExportDates(from: string, to: string): { from: string; to: string } {
  const start = dayOf(from, 'from');
  const end = dayOf(to, 'to');
  if (end < start) throw new ApiError(422, 'invalid_range', 'to must be on or after from (both inclusive)');
  if ((end - start) / DAY_MS + 1 > MAX_EXPORT_RANGE_DAYS) {
    throw new ApiError(
      422,
      'range_too_long',
      `an export covers at most ${MAX_EXPORT_RANGE_DAYS} days; split longer periods`,
      { max_days: MAX_EXPORT_RANGE_DAYS },
    );
  }
  return { from, to };
}
