import { applyDecorators } from '@nestjs/common';
import { ApiQuery } from '@nestjs/swagger';
import { ApiError, isStorableInstant } from '@app/http';

/** The longest range one export may cover: a (leap) year. Longer history is several exports. */
export const MAX_EXPORT_RANGE_DAYS = 366;
/** Without `from`, an export starts this many days before `to`. */
export const DEFAULT_EXPORT_RANGE_DAYS = 30;

const DAY_MS = 24 * 3600 * 1000;
const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/i;

/** A half-open time range [from, to). */
export interface ExportRange {
  from: Date;
  to: Date;
}

function instant(value: string, name: string): Date {
  const ms = DATE_ONLY.test(value)
    ? Date.parse(`${value}T00:00:00Z`)
    : DATE_TIME.test(value)
      ? Date.parse(value)
      : Number.NaN;
  // Date.parse rolls 2026-02-30 over to March; a date that does not exist is refused instead.
  if (
    Number.isNaN(ms) ||
    !isStorableInstant(ms) ||
    (DATE_ONLY.test(value) && new Date(ms).toISOString().slice(0, 10) !== value)
  ) {
    throw new ApiError(
      422,
      'validation_failed',
      `${name} must be a date YYYY-MM-DD or an RFC 3339 date-time`,
    );
  }
  return new Date(ms);
}

/**
 * The `from` (inclusive) and `to` (exclusive) query parameters of a CSV export, each a date
 * (00:00 UTC) or an RFC 3339 date-time; `to` after `from`, at most MAX_EXPORT_RANGE_DAYS apart.
 * `to` defaults to now, `from` to DEFAULT_EXPORT_RANGE_DAYS before `to`.
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
      description: 'Date (00:00 UTC) or RFC 3339; default: 30 days before to',
    }),
    ApiQuery({
      name: 'to',
      required: false,
      description: 'Date (00:00 UTC) or RFC 3339, exclusive; default: now',
    }),
  );
}
