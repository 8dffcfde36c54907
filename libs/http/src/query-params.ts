import { ApiError } from './api-error';

/** An optional RFC 3339 query parameter; 422 when it names no instant. */
export function instantQuery(value: string | undefined, name: string): Date | undefined {
  if (value === undefined || value === '') return undefined;
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new ApiError(422, 'validation_failed', `${name} must be an RFC 3339 date-time`);
  return new Date(ms);
}

/** `limit` of a paginated list: an integer from 1 to `max`, `fallback` when absent. */
export function pageLimitQuery(value: string | undefined, max: number, fallback = 100): number {
  const limit = value === undefined ? fallback : Number(value);
  if (!Number.isInteger(limit) || limit < 1 || limit > max) {
    throw new ApiError(422, 'validation_failed', `limit must be an integer from 1 to ${max}`);
  }
  return limit;
}

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/** The Idempotency-Key header of a money-moving request: required, 1-255 printable ASCII characters. */
export function requireIdempotencyKey(header: string | undefined): string {
  if (!header || !IDEMPOTENCY_KEY.test(header)) {
    throw new ApiError(
      400,
      'idempotency_key_required',
      'send an Idempotency-Key header (1-255 printable characters)',
    );
  }
  return header;
}
