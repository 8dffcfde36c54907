import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { ApiError } from './api-error';
import { DEFAULT_BODY_LIMIT } from './create-http-app';

export interface BodyBudgetOptions {
  /** Most request-body bytes, as declared by Content-Length, held at once by the requests it applies to. */
  maxBytes: number;
  applies(method: string, url: string): boolean;
  /** Told of every change of the bytes held (e.g. a gauge). */
  onHeld?(bytes: number): void;
  /** Told of every request answered 503. */
  onShed?(): void;
}

/**
 * Load shedding before a body is read. A usage batch, parsed, validated and enqueued, holds
 * several times its size in memory until it is answered: 200 batches of 0.9 MB sent at once took
 * ingest to 990 MiB of RSS (2026-12-04), and a retry storm of gateways could take it past its
 * heap. A request whose declared body would take the bytes held past `maxBytes` is answered 503
 * with Retry-After at once, its body never buffered; one request is always let in, so a budget
 * below the body limit cannot lock out large bodies. The bytes are held until the response ends
 * or the connection closes.
 */
export function shedBodiesOverBudget(app: NestFastifyApplication, options: BodyBudgetOptions): void {
  const fastify = app.getHttpAdapter().getInstance();
  const bodyLimit = fastify.initialConfig.bodyLimit ?? DEFAULT_BODY_LIMIT;
  let held = 0;
  const shed = new ApiError(
    503,
    'overloaded',
    'ingest holds as many request bodies as it may; retry after the Retry-After seconds',
  );
  fastify.addHook('onRequest', async (request, reply) => {
    if (!options.applies(request.method, request.url)) return;
    const declared = Number(request.headers['content-length']);
    // Over the body limit: Fastify answers 413 without reading it. No length (chunked): up to the limit.
    if (declared > bodyLimit) return;
    const bytes = Number.isFinite(declared) ? declared : bodyLimit;
    if (held > 0 && held + bytes > options.maxBytes) {
      options.onShed?.();
      return reply.status(503).header('retry-after', '1').send(shed.getResponse());
    }
    held += bytes;
    options.onHeld?.(held);
    reply.raw.once('close', () => {
      held -= bytes;
      options.onHeld?.(held);
    });
  });
}
