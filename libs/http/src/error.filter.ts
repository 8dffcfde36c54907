import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import { FastifyReply, FastifyRequest } from 'fastify';
import { STATUS_CODES } from 'node:http';
import { ApiError } from './api-error';

/** Fastify's own errors (body parsing, size limit) mapped to stable codes. */
const FASTIFY_CODES: Record<string, [number, string]> = {
  FST_ERR_CTP_BODY_TOO_LARGE: [413, 'payload_too_large'],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, 'unsupported_media_type'],
  FST_ERR_CTP_EMPTY_JSON_BODY: [400, 'invalid_json'],
  FST_ERR_CTP_INVALID_JSON_BODY: [400, 'invalid_json'],
};

/**
 * What to send instead, for answers whose message would only name their status: Nest hands
 * Fastify's own refusals (here, a body that is not JSON or multipart) over as such.
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
 * internals. Nothing here logs request bodies or headers, which may hold tokens.
 */
@Catch()
export class ErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('HttpError');

  catch(exception: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    const { status, body, headers } = this.toResponse(exception);
    if (status >= 500) {
      // Which request failed: its id is also on the request's own log line (logRequests).
      const request = host.switchToHttp().getRequest<FastifyRequest>();
      const error = exception instanceof Error ? (exception.stack ?? exception.message) : String(exception);
      this.logger.error(`${request.method} ${request.url} (${request.id}): ${error}`);
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
    const fastifyCode = (exception as { code?: string })?.code;
    if (fastifyCode && FASTIFY_CODES[fastifyCode]) {
      const [status, code] = FASTIFY_CODES[fastifyCode];
      return { status, body: { error: { code, message: (exception as Error).message } }, headers: {} };
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
    const status = (exception as { statusCode?: number })?.statusCode;
    if (status && status >= 400 && status < 500) {
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
