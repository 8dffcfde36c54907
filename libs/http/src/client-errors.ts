import { STATUS_CODES } from 'node:http';
import { Socket } from 'node:net';
import { ApiError } from './api-error';

const CLIENT_ERRORS: Record<string, ApiError> = {
  ERR_HTTP_REQUEST_TIMEOUT: new ApiError(408, 'request_timeout', 'the request did not arrive whole in time'),
  HPE_HEADER_OVERFLOW: new ApiError(431, 'headers_too_large', 'the request headers are too large'),
};
const MALFORMED = new ApiError(400, 'bad_request', 'malformed HTTP request');

/**
 * What a connection-level error Node raised (server 'clientError') is answered with; null for a
 * connection the client reset, which hears nothing.
 */
export function clientErrorAnswer(error: Error & { code?: string }): ApiError | null {
  if (error.code === 'ECONNRESET') return null;
  return CLIENT_ERRORS[error.code ?? ''] ?? MALFORMED;
}

/**
 * Errors Node raises on a connection before Fastify has a request to answer (malformed HTTP,
 * headers too large, a request not received in time), in our error shape. As Fastify's default
 * handler does: the connection is closed after the answer.
 */
export function answerClientErrors(error: Error & { code?: string }, socket: Socket): void {
  const answer = clientErrorAnswer(error);
  if (!answer || socket.destroyed) return;
  const status = answer.getStatus();
  const body = JSON.stringify(answer.getResponse());
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
}
