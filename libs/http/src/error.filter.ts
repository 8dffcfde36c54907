import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import { FastifyReply, FastifyRequest } from 'fastify';
import { STATUS_CODES } from 'node:http';
import { ApiError } from './api-error';
import { databaseUnavailable } from './database-unavailable';
import { redisUnavailableFor } from './redis-unavailable';
import { storageUnavailableFor } from './storage-unavailable';

/**
 * Fastify's own refusals (a body too large, a media type without a parser) reach the filter as
 * HttpException with their status: Nest's router maps them (mapExternalException), dropping their
 * FST_ERR_* code. Where their message only names the status, this says what to send instead.
 */
const HELP_BY_STATUS: Record<number, string> = {
  415: 'send the body as JSON with Content-Type: application/json (file uploads: multipart/form-data)',
};

const CODE_BY_STATUS: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  422: 'validation_failed',
  429: 'rate_limited',
  503: 'unavailable',
};

/**
 * Every error leaves as JSON {"error": {"code", "message"}}; unexpected ones as a 500 without
 * internals, except transient database failures and Redis being unreachable: 503 `unavailable`
 * with Retry-After (databaseUnavailable, redisUnavailableFor). Nothing here logs request bodies or
 * headers, which may hold tokens.
 *
 * Every 5xx is logged at error level, a transient database failure or Redis outage too: its request line is at
 * error already (logRequests), and a deadlock victim means two of our transactions lock rows in
 * opposite orders, a bug to fix even though the client's retry succeeds.
 */
@Catch()
export class ErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('HttpError');

  catch(thrown: unknown, host: ArgumentsHost): void {
    const exception =
      thrown instanceof ApiError
        ? thrown
        : (databaseUnavailable(thrown) ??
          // Before Redis: the AWS SDK's connection errors carry the same "ECONNREFUSED".
          storageUnavailableFor(thrown) ??
          redisUnavailableFor(thrown) ??
          thrown);
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    const { status, body, headers } = this.toResponse(exception);
    if (status >= 500) {
      // Which request failed: its id is also on the request's own log line (logRequests).
      const request = host.switchToHttp().getRequest<FastifyRequest>();
      const error =
        exception instanceof ApiError && exception.logDetail
          ? exception.logDetail
          : exception instanceof Error
            ? (exception.stack ?? exception.message)
            : String(exception);
      this.logger.error(`${request.method} ${request.url} (${request.id}): ${redactSecretKeys(error)}`);
    }
    for (const [name, value] of Object.entries(headers)) reply.header(name, value);
    void reply.status(status).send(body);
  }

  private toResponse(exception: unknown): { status: number; body: object; headers: Record<string, string> } {
    if (exception instanceof ApiError) {
      return {
        status: exception.getStatus(),
        body: exception.getResponse() as object,
        headers: exception.headers,
      };
    }
    if (exception instanceof SyntaxError) {
      return {
        status: 400,
        body: { error: { code: 'invalid_json', message: 'body is not valid JSON' } },
        headers: {},
      };
    }
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const response = exception.getResponse();
      const details = typeof response === 'object' ? (response as { message?: unknown }).message : response;
      let message = Array.isArray(details) ? details.join('; ') : String(details ?? exception.message);
      if (message === STATUS_CODES[status] && HELP_BY_STATUS[status]) message = HELP_BY_STATUS[status];
      return { status, body: { error: { code: CODE_BY_STATUS[status] ?? 'error', message } }, headers: {} };
    }
    // Only Fastify's own errors (its plugins': @fastify/multipart's limits) carry a status meant
    // for the client. Any other library's statusCode describes its own call: Stripe's 401 means
    // our secret key was refused, not the client's token, and its message names part of that key.
    const { statusCode: status, code } = (exception ?? {}) as { statusCode?: number; code?: unknown };
    if (typeof code === 'string' && code.startsWith('FST_') && status && status >= 400 && status < 500) {
      return {
        status,
        body: {
          error: { code: CODE_BY_STATUS[status] ?? 'bad_request', message: (exception as Error).message },
        },
        headers: {},
      };
    }
    return { status: 500, body: { error: { code: 'internal', message: 'internal error' } }, headers: {} };
  }
}

/**
 * Secret and restricted API keys (Stripe's sk_/rk_ live or test keys, even partly masked as its
 * error messages show them) in what is logged: an unexpected error's message may quote one.
 */
export function redactSecretKeys(text: string): string {
  return text.replace(/\b(sk|rk)_(live|test)_[^\s'"`,;)]*/g, '[redacted key]');
}
