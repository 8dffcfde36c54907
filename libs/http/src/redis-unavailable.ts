import { ApiError } from './api-error';

/**
 * Whether a Redis command failed because Redis could not be reached: a fail-fast connection
 * (openRedis) gave up on it (after its reconnects, or its command timeout while Redis stalled with
 * the connection open), or the connection closed or was refused under it. Only the message and
 * name are read, so neither ioredis nor BullMQ is needed here.
 */
export function isRedisUnavailable(error: unknown): boolean {
  const name = (error as Error)?.name ?? '';
  const message = (error as Error)?.message ?? '';
  return (
    name === 'MaxRetriesPerRequestError' ||
    // A Cluster client: no node answered its slots query (or none at all since it started).
    name === 'ClusterAllFailedError' ||
    /Connection is closed|ECONNREFUSED|ECONNRESET|Stream isn't writeable|enableOfflineQueue|None of startup nodes is available|^Command timed out$/.test(
      message,
    )
  );
}

/**
 * The 503 for a request that needed Redis while it was unreachable: the client may send it again.
 * One second, as for a transient database failure (databaseUnavailable): a Redis that restarts is
 * back within seconds, and a client that retried at once would only add to the reconnects.
 */
export function redisUnavailable(message: string): ApiError {
  return new ApiError(503, 'unavailable', message, {}, { 'Retry-After': '1' });
}

/**
 * The 503 for any request whose Redis command failed because Redis was unreachable (the error
 * filter's fallback for routes that do not map it themselves); null for any other error. A Redis
 * command is a cache read, a reservation before Postgres or a queue add, so nothing of the request
 * is committed when it fails before the transaction, and a retry after it is replayed by its key.
 */
export function redisUnavailableFor(error: unknown): ApiError | null {
  if (!isRedisUnavailable(error)) return null;
  const cause = error as Error;
  return new ApiError(
    503,
    'unavailable',
    'Redis is briefly unreachable; retry the request shortly',
    {},
    { 'Retry-After': '1' },
    `Redis unreachable, answered 503 with Retry-After: 1: ${cause.stack ?? cause.message}`,
  );
}
