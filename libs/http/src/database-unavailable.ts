import { transientPostgresFailure } from '@app/db';
import { ApiError } from './api-error';

/**
 * One second: a deadlock victim or a serialization failure succeeds at once when sent again, a
 * lock or a connection slot frees within moments, and a restarting Postgres takes seconds, so a
 * longer wait only adds latency; none at all would have every client hammer a Postgres that is
 * starting up or out of connections. Ingest's `unavailable` (Redis unreachable) asks the same.
 */
const RETRY_AFTER_SECONDS = '1';

/**
 * The 503 for a request that met a transient Postgres failure (a deadlock, a lock or statement
 * timeout, Postgres restarting or unreachable): the client may retry it, unlike a 500, which
 * says the request met our bug. Null for any other error.
 */
export function databaseUnavailable(error: unknown): ApiError | null {
  const failure = transientPostgresFailure(error);
  if (!failure) return null;
  return new ApiError(
    503,
    'unavailable',
    'the database is briefly unavailable or busy; retry the request shortly',
    {},
    { 'Retry-After': RETRY_AFTER_SECONDS },
    // The postgres.js error's stack, not a wrapper's message: drizzle's quotes the query's parameters.
    `transient database failure (${failure.code} ${failure.condition}), answered 503 with ` +
      `Retry-After: ${RETRY_AFTER_SECONDS}: ${failure.error.stack ?? failure.error.message}`,
  );
}
