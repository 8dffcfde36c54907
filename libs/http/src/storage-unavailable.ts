import { ApiError } from './api-error';

/**
 * Node's codes for a connection that could not be made or was lost, as the AWS SDK passes them on:
 * in `code`, or only in the message ("connect ECONNREFUSED 127.0.0.1:9000"), depending on the path.
 */
const CONNECTION_FAILURE = /\b(ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|EPIPE)\b/;

/**
 * The 503 for a request whose object storage (S3) call could not reach the store, after the
 * SDK's own retries; null for any other error. An AWS SDK error carries `$metadata`; without this
 * check its "connect ECONNREFUSED" would read as Redis being unreachable, and the log would send
 * ops to the wrong store. A store that refuses a request (an S3 error code) is not this.
 */
export function storageUnavailableFor(error: unknown): ApiError | null {
  if (typeof (error as { $metadata?: unknown })?.$metadata !== 'object') return null;
  const { code, name, message } = error as { code?: unknown; name?: unknown; message?: unknown };
  if (!CONNECTION_FAILURE.test(`${String(code)} ${String(message)}`) && name !== 'TimeoutError') return null;
  const cause = error as Error;
  return new ApiError(
    503,
    'unavailable',
    'object storage is briefly unreachable; retry the request shortly',
    {},
    { 'Retry-After': '1' },
    `object storage unreachable, answered 503 with Retry-After: 1: ${cause.stack ?? cause.message}`,
  );
}
