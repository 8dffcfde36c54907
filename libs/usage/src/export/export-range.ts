import { applyDecorators } from '@nestjs/common';
import { ApiQuery } from '@nestjs/swagger';
import { ApiError, isStorableInstant, parseRfc3339DateTime } from '@app/http';

/** The longest range one export may cover: a (leap) year. Longer history is several exports. */
export const MAX_EXPORT_RANGE_DAYS = 366;
/** Without `from`, an export starts this many days before `to`. */
export const DEFAULT_EXPORT_RANGE_DAYS = 30;

const DAY_MS = 24 * 3600 * 1000;
const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;

/** A half-open time range [from, to). */
export interface ExportRange {
  from: Date;
  to: Date;
}

/**
 * A date (its 00:00 UTC) or an RFC 3339 date-time with a time zone, read by the list endpoints'
 * parser: a day or hour the calendar lacks (2026-02-30, T24:00:00Z), which Date.parse would roll
 * over into the next month or day, lower-case t or z, and a time without seconds or zone are 422.
 */
function instant(value: string, name: string): Date {
  const ms = parseRfc3339DateTime(DATE_ONLY.test(value) ? `${value}T00:00:00Z` : value);
  if (Number.isNaN(ms)) {
    throw new ApiError(
      422,
      'validation_failed',
      `${name} must be a date YYYY-MM-DD or an RFC 3339 date-time with a time zone, e.g. 2026-12-04T09:30:00Z`,
    );
  }
  if (!isStorableInstant(ms)) {
    throw new ApiError(422, 'validation_failed', `${name} must lie between the years 1 and 9999`);
  }
  return new Date(ms);
}

/**
 * The `from` (inclusive) and `to` (exclusive) query parameters of a CSV export or a summary, each
 * a date (00:00 UTC) or an RFC 3339 date-time with a time zone; `to` after `from`, at most
 * MAX_EXPORT_RANGE_DAYS apart. `to` defaults to now, `from` to DEFAULT_EXPORT_RANGE_DAYS before `to`.
 */
export function exportRangeQuery(
  from: string | undefined,
  to: string | undefined,
  now = new Date(),
): ExportRange {
  const end = to ? instant(to, 'to') : now;
  const range = {
    from: from ? instant(from, 'from') : new Date(end.getTime() - DEFAULT_EXPORT_RANGE_DAYS * DAY_MS),
    to: end,
  };
  if (range.to.getTime() <= range.from.getTime()) {
    throw new ApiError(422, 'invalid_range', 'to must be after from (from is inclusive, to exclusive)');
  }
  if (range.to.getTime() - range.from.getTime() > MAX_EXPORT_RANGE_DAYS * DAY_MS) {
    throw new ApiError(
      422,
      'range_too_long',
      `from and to may be at most ${MAX_EXPORT_RANGE_DAYS} days apart; split longer periods`,
      { max_days: MAX_EXPORT_RANGE_DAYS },
    );
  }
  return range;
}

/** A file name part for a range: 2026-01-01_2026-02-01 (dates of from and to, UTC). */
export function rangeFileTag(range: ExportRange): string {
  return `${range.from.toISOString().slice(0, 10)}_${range.to.toISOString().slice(0, 10)}`;
}

/** The OpenAPI description of the `from` and `to` query parameters of every CSV export. */
export function ApiExportRangeQuery(): MethodDecorator {
  return applyDecorators(
    ApiQuery({
      name: 'from',
      required: false,
      description: 'Date (00:00 UTC) or RFC 3339 date-time with a time zone; default: 30 days before to',
    }),
    ApiQuery({
      name: 'to',
      required: false,
      description: 'Date (00:00 UTC) or RFC 3339 date-time with a time zone, exclusive; default: now',
    }),
  );
}
