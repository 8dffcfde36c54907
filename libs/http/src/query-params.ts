import { ApiError } from './api-error';
import { parseRfc3339DateTime } from './rfc3339';

const EARLIEST_MS = Date.parse('0001-01-01T00:00:00Z');
const LATEST_MS = Date.parse('9999-12-31T23:59:59.999Z');

/**
 * Whether an instant may go to Postgres: years 1 to 9999. JavaScript reads year 0 and years up
 * to ±275,760, which Postgres refuses (a failed statement, a 500, instead of a 422).
 */
export function isStorableInstant(ms: number): boolean {
  return ms >= EARLIEST_MS && ms <= LATEST_MS;
}

/**
 * An optional RFC 3339 date-time query parameter with a time zone; 422 for anything else (a bare
 * date, a day the calendar lacks, a format only Date.parse reads) or one outside years 1-9999.
 */
export function instantQuery(value: string | undefined, name: string): Date | undefined {
  if (value === undefined || value === '') return undefined;
  const ms = parseRfc3339DateTime(value);
  if (Number.isNaN(ms)) {
    throw new ApiError(
      422,
      'validation_failed',
      `${name} must be an RFC 3339 date-time with a time zone, e.g. 2026-12-04T09:30:00Z`,
    );
  }
  if (!isStorableInstant(ms)) {
    throw new ApiError(422, 'validation_failed', `${name} must lie between the years 1 and 9999`);
  }
  return new Date(ms);
}

/**
 * `limit` of a paginated list: decimal digits only (not the 1e2, 0x10 or " 5 " Number reads), an
 * integer from 1 to `max`, `fallback` when absent.
 */
export function pageLimitQuery(value: string | undefined, max: number, fallback = 100): number {
  const limit = value === undefined ? fallback : /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isInteger(limit) || limit < 1 || limit > max) {
    throw new ApiError(422, 'validation_failed', `limit must be an integer from 1 to ${max}`);
  }
  return limit;
}

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/** A sent Idempotency-Key, or 400 invalid_idempotency_key (too long, a space, a control or non-ASCII byte). */
function checkedIdempotencyKey(header: string): string {
  if (!IDEMPOTENCY_KEY.test(header)) {
    throw new ApiError(
      400,
      'invalid_idempotency_key',
      'Idempotency-Key must be 1-255 printable ASCII characters, without spaces',
    );
  }
  return header;
}

/** An optional Idempotency-Key header: undefined when not sent, else checked as a required one is. */
export function optionalIdempotencyKey(header: string | undefined): string | undefined {
  return header === undefined ? undefined : checkedIdempotencyKey(header);
}

/**
 * The Idempotency-Key header of a money-moving request: 400 idempotency_key_required when missing
 * or empty; a key sent but malformed is 400 invalid_idempotency_key, as "required" would send the
 * caller looking for a header they did send.
 */
export function requireIdempotencyKey(header: string | undefined): string {
  if (header === undefined || header === '') {
    throw new ApiError(
      400,
      'idempotency_key_required',
      'send an Idempotency-Key header (1-255 printable ASCII characters)',
    );
  }
  return checkedIdempotencyKey(header);
}
