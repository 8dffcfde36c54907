import { DynamicModule, INestApplication, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { Logger } from 'nestjs-pino';
import secureJson from 'secure-json-parse';
import { ApiError } from './api-error';
import { AuthTokens, TokenRegistry } from './auth.guard';
import { answerClientErrors } from './client-errors';
import { ErrorFilter } from './error.filter';
import { logRequests, RequestLogMode } from './logging';
import { createValidationPipe } from './validation.pipe';

export interface HttpAppOptions {
  /** Largest accepted request body in bytes; larger bodies get 413. */
  bodyLimit?: number;
  /**
   * Tokens checked before the body is read, so an unauthenticated caller gets 401 (not 400 or
   * 413) and cannot make the server parse a megabyte. Routes' scopes are checked by AuthGuard.
   */
  tokens?: AuthTokens;
  /** Whose X-Forwarded-For to believe for request.ip (see TRUST_PROXY); false = the socket address. */
  trustProxy?: boolean | string;
  /** OpenAPI documentation served at /docs; omitted for processes without a public API. */
  docs?: { title: string; description: string };
  /**
   * Time for a request to arrive whole, headers and body; then 408 and the connection closed.
   * Omitted: none (Fastify's default), as for the api's uploads.
   */
  requestTimeoutMs?: number;
  /** Which answered requests are logged (REQUEST_LOG); default all. */
  requestLog?: RequestLogMode;
}

export const DEFAULT_BODY_LIMIT = 1024 * 1024;

/** Builds a Fastify-backed Nest app with our error shape, validation, logging and OpenAPI docs at /docs. */
export async function createHttpApp(
  rootModule: Type<unknown> | DynamicModule,
  options: HttpAppOptions,
): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
    trustProxy: options.trustProxy ?? false,
    clientErrorHandler: answerClientErrors,
    ...(options.requestTimeoutMs && {
      requestTimeout: options.requestTimeoutMs,
      http: {
        // Node 20 only expires a request whose headers are in once headersTimeout (60 s) has passed
        // too, so it gets the same limit.
        headersTimeout: options.requestTimeoutMs,
        // Node looks for expired requests every 30 s by default: far too coarse for a timeout of seconds.
        connectionsCheckingInterval: Math.min(30_000, Math.ceil(options.requestTimeoutMs / 4)),
      },
    }),
  });
  parseJsonWithStableErrors(adapter);
  if (options.tokens) rejectUnknownTokensEarly(adapter, new TokenRegistry(options.tokens));
  rejectRepeatedQueryParameters(adapter);
  // bodyParser off: Nest would replace the JSON parser registered above with its own.
  const app = await NestFactory.create<NestFastifyApplication>(rootModule, adapter, {
    bufferLogs: true,
    bodyParser: false,
  });
  app.useLogger(app.get(Logger));
  await logRequests(app, options.requestLog ?? 'all');
  app.useGlobalFilters(new ErrorFilter());
  app.useGlobalPipes(createValidationPipe());
  app.enableShutdownHooks();
  if (options.docs) setUpDocs(app, options.docs);
  return app;
}

// The Stripe webhook carries no token: its signature over the raw body authenticates it.
const PUBLIC_PATHS = /^\/(health|metrics|docs)(\/|\?|$|-json|-yaml)|^\/webhooks\/stripe(\?|$)/;

/** A request whose JSON body is also kept as sent, for signatures computed over the raw bytes (webhooks). */
export interface RawBodyRequest {
  rawBody?: string;
}

/**
 * JSON bodies parsed as Fastify does (prototype-poisoning safe), with our error code when they are
 * not JSON. Fastify's text/plain parser goes: a JSON body sent as text would reach the validators
 * as one string ("must be object"), where 415 says what is wrong.
 */
function parseJsonWithStableErrors(adapter: FastifyAdapter): void {
  const fastify = adapter.getInstance();
  fastify.removeContentTypeParser('text/plain');
  fastify.removeContentTypeParser('application/json');
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    // Only where a signature needs it: ingest's large batches are not kept twice.
    if (request.url.startsWith('/webhooks/')) (request as RawBodyRequest).rawBody = body as string;
    if (body === '') return done(null, undefined);
    try {
      done(
        null,
        secureJson.parse(body as string, undefined, { protoAction: 'remove', constructorAction: 'remove' }),
      );
    } catch {
      done(new ApiError(400, 'invalid_json', 'the body is not valid JSON'), undefined);
    }
  });
}

function rejectUnknownTokensEarly(adapter: FastifyAdapter, registry: TokenRegistry): void {
  adapter.getInstance().addHook('onRequest', async (request, reply) => {
    if (PUBLIC_PATHS.test(request.url)) return;
    try {
      registry.identifyRequest(request);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      return reply.status(error.getStatus()).send(error.getResponse());
    }
  });
}

/**
 * No route takes a list in its query, and a parameter given twice reaches a handler as an array
 * (`model=a&model=b`), which would be read as no match rather than refused. 422 says which.
 * Synchronous and out at once without a query string: ingest's usage POSTs carry none.
 */
function rejectRepeatedQueryParameters(adapter: FastifyAdapter): void {
  adapter.getInstance().addHook('onRequest', (request, reply, done) => {
    if (!request.url.includes('?')) return done();
    const repeated = Object.entries((request.query ?? {}) as Record<string, unknown>).find(([, value]) =>
      Array.isArray(value),
    );
    if (!repeated) return done();
    const error = new ApiError(422, 'validation_failed', `${repeated[0]} is given more than once`);
    void reply.status(error.getStatus()).send(error.getResponse());
  });
}

function setUpDocs(app: INestApplication, docs: NonNullable<HttpAppOptions['docs']>): void {
  const config = new DocumentBuilder()
    .setTitle(docs.title)
    .setDescription(docs.description)
    .setVersion('1')
    .addBearerAuth()
    .build();
  SwaggerModule.setup('docs', app, () => SwaggerModule.createDocument(app, config));
}
