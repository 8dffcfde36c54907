import { randomUUID } from 'node:crypto';
import { ApiClient, JsonResponse } from '../support/api-client';
import { BillingStack } from '../support/billing-stack';
import { expectNothingReachedStores, takeSnapshot } from '../support/store-snapshot';
import { TEST_ADMIN_TOKEN, TEST_GATEWAY_TOKEN } from '../support/test-stores';

const MODEL = 'openai/gpt-4o-mini';
const SECOND_GATEWAY_TOKEN = 'second-gateway-token-abcdef012345';
const WRONG_TOKEN = 'not-a-real-token-0000000000000000';

/** from/to query of the last 24 hours, for the export-range routes. */
function lastDay(): string {
  const to = new Date(Date.now() + 3600_000);
  const from = new Date(to.getTime() - 25 * 3600_000);
  return `from=${from.toISOString()}&to=${to.toISOString()}`;
}

type AppKey = 'ingest' | 'api';

interface Route {
  app: AppKey;
  method: 'GET' | 'POST' | 'PUT';
  /** As documented, e.g. POST /v1/accounts/:id/balance. */
  label: string;
  scope: 'gateway' | 'admin';
  okStatus: number[];
  path: () => string;
  body?: () => unknown;
  headers?: () => Record<string, string>;
}

describe('authentication and authorisation on every route', () => {
  const stack = new BillingStack({
    workers: 1,
    env: { GATEWAY_TOKENS: `${TEST_GATEWAY_TOKEN},${SECOND_GATEWAY_TOKEN}` },
  });
  let accountId: string;

  const routes: Route[] = [
    {
      app: 'ingest',
      method: 'POST',
      label: 'POST /v1/usage/events',
      scope: 'gateway',
      okStatus: [202],
      path: () => '/v1/usage/events',
      body: () => ({
        events: [
          {
            id: randomUUID(),
            account_id: accountId,
            model: MODEL,
            prompt_tokens: 100,
            completion_tokens: 20,
          },
        ],
      }),
    },
    {
      app: 'ingest',
      method: 'POST',
      label: 'POST /v1/authorize',
      scope: 'gateway',
      okStatus: [200],
      path: () => '/v1/authorize',
      body: () => ({ account_id: accountId, model: MODEL }),
    },
    {
      app: 'ingest',
      method: 'GET',
      label: 'GET /v1/accounts/:id/balance',
      scope: 'gateway',
      okStatus: [200],
      path: () => `/v1/accounts/${accountId}/balance`,
    },
    {
      app: 'ingest',
      method: 'GET',
      label: 'GET /v1/accounts/:id/usage',
      scope: 'gateway',
      okStatus: [200],
      path: () => `/v1/accounts/${accountId}/usage`,
    },
    {
      app: 'api',
      method: 'GET',
      label: 'GET /v1/models',
      scope: 'gateway',
      okStatus: [200],
      path: () => '/v1/models',
    },
    {
      app: 'api',
      method: 'GET',
      label: 'GET /v1/accounts/:id/usage/summary',
      scope: 'gateway',
      okStatus: [200],
      path: () => `/v1/accounts/${accountId}/usage/summary?${lastDay()}`,
    },
    {
      app: 'api',
      method: 'GET',
      label: 'GET /v1/accounts/:id/usage.csv',
      scope: 'gateway',
      okStatus: [200],
      path: () => `/v1/accounts/${accountId}/usage.csv?${lastDay()}`,
    },
    {
      app: 'api',
      method: 'POST',
      label: 'POST /v1/admin/accounts',
      scope: 'admin',
      okStatus: [201],
      path: () => '/v1/admin/accounts',
      body: () => ({ name: 'Auth Test Co', email: 'auth@example.test', tier: 'developer' }),
    },
    {
      app: 'api',
      method: 'POST',
      label: 'POST /v1/admin/accounts/:id/credit-grants',
      scope: 'admin',
      okStatus: [201],
      path: () => `/v1/admin/accounts/${accountId}/credit-grants`,
      body: () => ({ amount: '1.50', reason: 'auth test' }),
      headers: () => ({ 'idempotency-key': randomUUID() }),
    },
    {
      app: 'api',
      method: 'PUT',
      label: 'PUT /v1/admin/models/:model',
      scope: 'admin',
      okStatus: [200, 201],
      path: () => `/v1/admin/models/${encodeURIComponent('acme/auth-model:v1')}`,
      body: () => ({ prompt_price_per_mtok: '1.00', completion_price_per_mtok: '2.00' }),
    },
    {
      app: 'api',
      method: 'POST',
      label: 'POST /v1/admin/reconcile',
      scope: 'admin',
      okStatus: [200],
      path: () => '/v1/admin/reconcile',
    },
    // Account routes that are not balance or usage: closed to gateways, whose contract is those two.
    {
      app: 'api',
      method: 'GET',
      label: 'GET /v1/accounts/:id (name and billing email)',
      scope: 'admin',
      okStatus: [200],
      path: () => `/v1/accounts/${accountId}`,
    },
    {
      app: 'api',
      method: 'GET',
      label: 'GET /v1/accounts/:id/projects',
      scope: 'admin',
      okStatus: [200],
      path: () => `/v1/accounts/${accountId}/projects`,
    },
    {
      app: 'api',
      method: 'GET',
      label: 'GET /v1/accounts/:id/spend',
      scope: 'admin',
      okStatus: [200],
      path: () => `/v1/accounts/${accountId}/spend`,
    },
  ];
  const adminRoutes = routes.filter((route) => route.scope === 'admin');
  const gatewayRoutes = routes.filter((route) => route.scope === 'gateway');

  function baseUrl(app: AppKey): string {
    return app === 'ingest' ? stack.ingest.url : stack.api.url;
  }

  /** Calls a route with exactly the given Authorization header (or none). */
  function call(route: Route, authorization: string | null): Promise<JsonResponse> {
    return new ApiClient(baseUrl(route.app), null).request(route.method, route.path(), route.body?.(), {
      ...(authorization === null ? {} : { authorization }),
      ...route.headers?.(),
    });
  }

  function expectJsonError(response: JsonResponse, status: number, code: string): void {
    expect(response.status).toBe(status);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(response.body).toEqual({ error: { code, message: expect.any(String) } });
  }

  beforeAll(async () => {
    await stack.start();
    await stack.setPrice(MODEL, '0.15', '0.60');
    accountId = await stack.createAccount();
    await stack.grant(accountId, '10');
  });

  afterAll(() => stack.stop());

  const badHeaders: [string, string | null][] = [
    ['without an Authorization header', null],
    ['with a Basic credential', `Basic ${Buffer.from(`user:${TEST_ADMIN_TOKEN}`).toString('base64')}`],
    ['with "Bearer" and no token', 'Bearer'],
    ['with a valid token but no Bearer scheme', TEST_ADMIN_TOKEN],
    ['with a wrong bearer token', `Bearer ${WRONG_TOKEN}`],
    ['with the admin token plus one character', `Bearer ${TEST_ADMIN_TOKEN}x`],
  ];
  const unauthenticated = routes.flatMap((route) =>
    badHeaders.map(([how, header]) => [route.label, how, route, header] as const),
  );

  describe('401', () => {
    it.each(unauthenticated)(
      'answers %s %s with 401 and a JSON error, changing nothing',
      async (_, __, route, header) => {
        const before = await takeSnapshot(stack);
        const response = await call(route, header);
        expectJsonError(response, 401, 'unauthorized');
        await expectNothingReachedStores(stack, before);
      },
    );

    it('answers 401, not 404, for an unknown account when the token is wrong', async () => {
      const response = await stack.gateway.as(WRONG_TOKEN).get(`/v1/accounts/${randomUUID()}/balance`);
      expectJsonError(response, 401, 'unauthorized');
    });

    it('answers 401, not 422, to an invalid usage batch sent without a token', async () => {
      const response = await stack.gateway.as(null).post('/v1/usage/events', { events: [] });
      expectJsonError(response, 401, 'unauthorized');
    });

    it('answers 401, not 400, to a malformed JSON body sent without a token', async () => {
      const response = await stack.gateway.as(null).post('/v1/usage/events', '{"events": [');
      expectJsonError(response, 401, 'unauthorized');
    });

    it('answers 401, not 413, to an oversized body sent with a wrong token, before reading it', async () => {
      const response = await stack.admin
        .as(WRONG_TOKEN)
        .post('/v1/admin/accounts', { name: 'x'.repeat(2 * 1024 * 1024) });
      expectJsonError(response, 401, 'unauthorized');
    });
  });

  describe('403', () => {
    it.each(adminRoutes.map((route) => [route.label, route] as const))(
      'answers %s with a gateway token with 403 and a JSON error, changing nothing',
      async (_, route) => {
        const before = await takeSnapshot(stack);
        const response = await call(route, `Bearer ${TEST_GATEWAY_TOKEN}`);
        expectJsonError(response, 403, 'forbidden');
        await expectNothingReachedStores(stack, before);
      },
    );

    it('answers an admin route with the second configured gateway token with 403', async () => {
      const response = await call(adminRoutes[0], `Bearer ${SECOND_GATEWAY_TOKEN}`);
      expectJsonError(response, 403, 'forbidden');
    });
  });

  describe('the right token', () => {
    afterEach(() => stack.drained());

    it.each(gatewayRoutes.map((route) => [route.label, route] as const))(
      'lets a gateway token call %s',
      async (_, route) => {
        const response = await call(route, `Bearer ${TEST_GATEWAY_TOKEN}`);
        expect(route.okStatus).toContain(response.status);
      },
    );

    it.each(gatewayRoutes.map((route) => [route.label, route] as const))(
      'lets the second configured gateway token call %s',
      async (_, route) => {
        const response = await call(route, `Bearer ${SECOND_GATEWAY_TOKEN}`);
        expect(route.okStatus).toContain(response.status);
      },
    );

    it.each(['bearer', 'BEARER'])(
      'accepts the scheme written as "%s" (schemes are case-insensitive)',
      async (scheme) => {
        const response = await call(gatewayRoutes[2], `${scheme} ${TEST_GATEWAY_TOKEN}`);
        expect(response.status).toBe(200);
      },
    );

    it('still refuses a token that differs only in letter case', async () => {
      const response = await call(gatewayRoutes[2], `Bearer ${TEST_GATEWAY_TOKEN.toUpperCase()}`);
      expectJsonError(response, 401, 'unauthorized');
    });

    it.each(routes.map((route) => [route.label, route] as const))(
      'lets the admin token call %s',
      async (_, route) => {
        const response = await call(route, `Bearer ${TEST_ADMIN_TOKEN}`);
        expect(route.okStatus).toContain(response.status);
      },
    );
  });

  describe('public routes', () => {
    const apps = ['ingest', 'api', 'usage-worker'] as const;
    const urlOf = (app: (typeof apps)[number]) =>
      app === 'ingest' ? stack.ingest.url : app === 'api' ? stack.api.url : stack.workers[0].url;

    it.each(apps)('serves /health on %s without a token', async (app) => {
      const response = await fetch(`${urlOf(app)}/health`);
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual(expect.objectContaining({ status: 'ok' }));
    });

    it.each(apps)('serves /metrics on %s without a token', async (app) => {
      const response = await fetch(`${urlOf(app)}/metrics`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
      expect(await response.text()).toMatch(/^# (HELP|TYPE) /m);
    });
  });
});
