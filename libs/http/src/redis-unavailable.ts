import { ApiError } from './api-error';

/**
 * Whether a Redis command failed because Redis could not be reached: a fail-fast connection
 * (openRedis) gave up on it, or the connection closed or was refused under it. Only the message
 * and name are read, so neither ioredis nor BullMQ is needed here.
 */
export function isRedisUnavailable(error: unknown): boolean {
  const name = (error as Error)?.name ?? '';
  const message = (error as Error)?.message ?? '';
  return (
    name === 'MaxRetriesPerRequestError' ||
    /Connection is closed|ECONNREFUSED|ECONNRESET|Stream isn't writeable|enableOfflineQueue/.test(message)
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
