import { IncomingMessage, ServerResponse } from 'node:http';
import { ApiContext, RequestInfo } from '../core/api-context';
import { invalidRequest, StripeApiError, StripeErrorBody } from '../core/api-error';
import { applyExpand } from '../core/expand';
import { newId } from '../core/ids';
import { expandPaths } from '../core/params';
import { StripeState } from '../core/state';
import { EventLog } from '../webhooks/event-log';
import { authenticationError } from './api-key';
import { FormObject, FormValue, parseForm } from './form-encoding';
import { IdempotencyCache, paramsFingerprint } from './idempotency-cache';
import { Router } from './router';

const MAX_BODY_BYTES = 1024 * 1024;

export interface RequestHandlerDeps {
  /** Stripe API routes (/v1/…), behind the API key. */
  api: Router;
  /** Test helper routes (/_test/…), open. */
  testHelpers: Router;
  state: StripeState;
  events: EventLog;
  idempotency: IdempotencyCache;
  /** Sent back (and put on events) when a request names no Stripe-Version. */
  defaultApiVersion: string;
  log: (line: string) => void;
}

interface Reply {
  statusCode: number;
  body: string;
  headers: Record<string, string>;
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) reject(invalidRequest('Request body too large.', { statusCode: 413 }));
      else chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

/** Test helpers also take JSON; values become the strings form encoding would have given. */
function formFromJson(text: string): FormObject {
  const toForm = (value: unknown): FormValue => {
    if (Array.isArray(value)) return value.map(toForm);
    if (value && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, toForm(item)]));
    }
    return value === null || value === undefined ? '' : String(value);
  };
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : {};
  } catch {
    throw invalidRequest('Invalid JSON body.');
  }
  const form = toForm(parsed);
  if (typeof form === 'string' || Array.isArray(form))
    throw invalidRequest('The JSON body must be an object.');
  return form;
}

const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

const errorReply = (error: StripeApiError): Pick<Reply, 'statusCode' | 'body'> => ({
  statusCode: error.statusCode,
  body: json({ error: error.body }),
});

/**
 * One HTTP request: API key, body decoding, idempotency, routing, `expand[]`, Stripe's error shape.
 * Everything after the body has been read runs synchronously, so requests never interleave.
 */
export function createRequestListener(deps: RequestHandlerDeps) {
  return (request: IncomingMessage, response: ServerResponse): void => {
    const started = Date.now();
    void handle(deps, request).then((reply) => {
      response.writeHead(reply.statusCode, { 'content-type': 'application/json', ...reply.headers });
      response.end(reply.body);
      deps.log(`${request.method} ${request.url} ${reply.statusCode} ${Date.now() - started}ms`);
    });
  };
}

async function handle(deps: RequestHandlerDeps, request: IncomingMessage): Promise<Reply> {
  const requestId = newId('req');
  const method = request.method ?? 'GET';
  const url = new URL(request.url ?? '/', 'http://stripe-server');
  const apiVersion = (request.headers['stripe-version'] as string | undefined) ?? deps.defaultApiVersion;
  const idempotencyKey = (request.headers['idempotency-key'] as string | undefined) ?? null;
  const headers: Record<string, string> = { 'request-id': requestId, 'stripe-version': apiVersion };
  if (idempotencyKey) headers['idempotency-key'] = idempotencyKey;
  try {
    const rawBody = await readBody(request);
    if (url.pathname === '/health' || url.pathname === '/health/ready') {
      return { statusCode: 200, body: json({ status: 'ok' }), headers };
    }
    const testHelper = url.pathname.startsWith('/_test/');
    if (!testHelper) {
      const authError = authenticationError(request.headers.authorization);
      if (authError) return { ...errorReply(authError), headers };
    }
    const jsonBody = /json/i.test(request.headers['content-type'] ?? '');
    if (jsonBody && !testHelper && rawBody) {
      // Stripe's v1 API reads form encoding only; a JSON body would silently lose every parameter.
      throw invalidRequest(
        'Invalid request: the Stripe v1 API takes application/x-www-form-urlencoded bodies, not JSON.',
      );
    }
    const params =
      method === 'GET' || method === 'DELETE'
        ? parseForm(url.search)
        : jsonBody
          ? formFromJson(rawBody)
          : parseForm(rawBody);
    const route = (testHelper ? deps.testHelpers : deps.api).match(method, url.pathname);
    if (!route) {
      throw invalidRequest(
        `Unrecognized request URL (${method}: ${url.pathname}). This Stripe-compatible test server implements only part of the API; see apps/stripe-server/README.md.`,
        { statusCode: 404 },
      );
    }

    const keyed = method === 'POST' && !testHelper && idempotencyKey !== null;
    const fingerprint = keyed ? paramsFingerprint(params) : '';
    if (keyed) {
      const stored = deps.idempotency.lookup(idempotencyKey, method, url.pathname, fingerprint);
      if (stored) {
        return {
          statusCode: stored.statusCode,
          body: stored.body,
          headers: {
            ...headers,
            'request-id': stored.requestId,
            'original-request': stored.requestId,
            'idempotent-replayed': 'true',
          },
        };
      }
    }

    const info: RequestInfo = testHelper
      ? { id: null, idempotencyKey: null, apiVersion }
      : { id: requestId, idempotencyKey, apiVersion };
    const ctx: ApiContext = {
      state: deps.state,
      params,
      request: info,
      baseUrl: `http://${request.headers.host ?? 'localhost'}`,
      emit: (type, object, previous) => deps.events.record(type, object, info, previous),
    };
    let reply: Pick<Reply, 'statusCode' | 'body'>;
    try {
      const result = route.handler(ctx, route.path);
      const expanded = applyExpand(result, expandPaths(params), (id) => deps.state.find(id));
      reply = { statusCode: 200, body: json(expanded) };
    } catch (error) {
      if (!(error instanceof StripeApiError)) throw error;
      reply = errorReply(error);
    }
    if (keyed) {
      deps.idempotency.store(idempotencyKey, {
        method,
        path: url.pathname,
        fingerprint,
        requestId,
        ...reply,
      });
    }
    return { ...reply, headers };
  } catch (error) {
    if (error instanceof StripeApiError) return { ...errorReply(error), headers };
    deps.log(
      `internal error on ${method} ${url.pathname}: ${error instanceof Error ? error.stack : String(error)}`,
    );
    const body: StripeErrorBody = {
      type: 'api_error',
      message: 'An unexpected error occurred in the Stripe test server.',
    };
    return {
      statusCode: 500,
      body: json({ error: body }),
      headers: { ...headers, 'stripe-should-retry': 'false' },
    };
  }
}
