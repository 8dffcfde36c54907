import { STATUS_CODES } from 'node:http';
import { Socket } from 'node:net';

export interface ClientErrorAnswer {
  status: number;
  code: string;
  message: string;
}

const CLIENT_ERRORS: Record<string, ClientErrorAnswer> = {
  ERR_HTTP_REQUEST_TIMEOUT: {
    status: 408,
    code: 'request_timeout',
    message: 'the request did not arrive whole in time',
  },
  HPE_HEADER_OVERFLOW: {
    status: 431,
    code: 'headers_too_large',
    message: 'the request headers are too large',
  },
};
const MALFORMED: ClientErrorAnswer = { status: 400, code: 'bad_request', message: 'malformed HTTP request' };

/**
 * What a connection-level error Node raised (server 'clientError') is answered with; null for a
 * connection the client reset, which hears nothing.
 */
export function clientErrorAnswer(error: Error & { code?: string }): ClientErrorAnswer | null {
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
  const body = JSON.stringify({ error: { code: answer.code, message: answer.message } });
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
}
