import { randomBytes, randomUUID } from 'node:crypto';
import { ApiClient, JsonResponse } from '../support/api-client';
import { BillingStack } from '../support/billing-stack';
import { confirmCardSetup, saveCard } from '../support/cards';
import { waitFor } from '../support/wait-for';
import { Workspace } from '../support/workspace';

const MODEL = 'openai/gpt-4o-mini';

type AppKey = 'ingest' | 'api';
type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** The ids a route path (or body) can name: placeholders :id, :memberId, :projectId, :keyId, :paymentMethodId, :purchaseId and :invoiceId. */
interface Target {
  accountId: string;
  memberId: string;
  projectId: string;
  keyId: string;
  paymentMethodId: string;
  purchaseId: string;
  /** The invoice of that purchase. */
  invoiceId: string;
  /** A zip export of invoice PDFs. */
  exportId: string;
  /** A SetupIntent confirmed with a card but not saved yet. */
  setupIntentId: string;
}

/**
 * One account-facing route, as documented. `ok` is what an owner key gets on its own workspace,
 * which shows the route exists (a typo'd path would also answer 404).
 */
interface AccountRouteCase {
  app: AppKey;
  method: Method;
  path: string;
  ok: number;
  body?: (target: Target) => unknown;
  headers?: () => Record<string, string>;
}

/** Every account-facing route of both apps. A new route is one more line here. */
const ACCOUNT_ROUTES: AccountRouteCase[] = [
  { app: 'ingest', method: 'GET', path: '/v1/accounts/:id/balance', ok: 200 },
  { app: 'ingest', method: 'GET', path: '/v1/accounts/:id/usage', ok: 200 },
  { app: 'api', method: 'GET', path: '/v1/accounts/:id', ok: 200 },
  { app: 'api', method: 'GET', path: '/v1/accounts/:id/members', ok: 200 },
  {
    app: 'api',
    method: 'POST',
    path: '/v1/accounts/:id/members',
    ok: 201,
    body: () => ({ email: `intruder-${randomUUID().slice(0, 8)}@a.test`, role: 'admin' }),
  },
  {
    app: 'api',
    method: 'PATCH',
    path: '/v1/accounts/:id/members/:memberId',
    ok: 200,
    body: () => ({ role: 'admin', name: 'renamed by A' }),
  },
  { app: 'api', method: 'DELETE', path: '/v1/accounts/:id/members/:memberId', ok: 204 },
  { app: 'api', method: 'GET', path: '/v1/accounts/:id/projects', ok: 200 },
  {
    app: 'api',
    method: 'POST',
    path: '/v1/accounts/:id/projects',
    ok: 201,
    body: () => ({ name: `intruder project ${randomUUID().slice(0, 8)}` }),
  },
  {
    app: 'api',
    method: 'PATCH',
    path: '/v1/accounts/:id/projects/:projectId',
    ok: 200,
    body: () => ({ name: `renamed ${randomUUID().slice(0, 8)}`, archived: true }),
  },
  { app: 'api', method: 'GET', path: '/v1/accounts/:id/api-keys', ok: 200 },
  {
    app: 'api',
    method: 'POST',
    path: '/v1/accounts/:id/api-keys',
    ok: 201,
    body: () => ({ name: 'planted by A', role: 'owner' }),
  },
  { app: 'api', method: 'GET', path: '/v1/accounts/:id/api-keys/:keyId', ok: 200 },
  {
    app: 'api',
    method: 'PATCH',
    path: '/v1/accounts/:id/api-keys/:keyId',
    ok: 200,
    body: () => ({ name: 'renamed by A', limit: { amount: '0.01', period: 'daily' } }),
  },
  { app: 'api', method: 'DELETE', path: '/v1/accounts/:id/api-keys/:keyId', ok: 200 },
  { app: 'api', method: 'GET', path: '/v1/accounts/:id/ip-allowlist', ok: 200 },
  {
    app: 'api',
    method: 'PUT',
    path: '/v1/accounts/:id/ip-allowlist',
    ok: 200,
    // Clearing the list would open B's workspace to any address.
    body: () => ({ cidrs: [] }),
  },
  { app: 'api', method: 'GET', path: '/v1/accounts/:id/audit-log', ok: 200 },
  { app: 'api', method: 'POST', path: '/v1/accounts/:id/payment-methods/setup-intents', ok: 201 },
  {
    app: 'api',
    method: 'POST',
    path: '/v1/accounts/:id/payment-methods',
    ok: 201,
    body: (target) => ({ setup_intent_id: target.setupIntentId }),
  },
  { app: 'api', method: 'GET', path: '/v1/accounts/:id/payment-methods', ok: 200 },
  { app: 'api', method: 'POST', path: '/v1/accounts/:id/payment-methods/:paymentMethodId/default', ok: 200 },
  { app: 'api', method: 'DELETE', path: '/v1/accounts/:id/payment-methods/:paymentMethodId', ok: 204 },
  {
    app: 'api',
    method: 'POST',
    path: '/v1/accounts/:id/purchases',
    ok: 201,
    // The account's default card, or the named one: B's card must not be chargeable through B's id either.
    body: (target) => ({ amount: '5.00', payment_method_id: target.paymentMethodId }),
    headers: () => ({ 'idempotency-key': randomUUID() }),
  },
  { app: 'api', method: 'GET', path: '/v1/accounts/:id/purchases', ok: 200 },
  { app: 'api', method: 'GET', path: '/v1/accounts/:id/purchases/:purchaseId', ok: 200 },
  { app: 'api', method: 'GET', path: '/v1/accounts/:id/invoices', ok: 200 },
  { app: 'api', method: 'GET', path: '/v1/accounts/:id/invoices/:invoiceId', ok: 200 },
  { app: 'api', method: 'GET', path: '/v1/accounts/:id/invoices/:invoiceId/pdf', ok: 200 },
  { app: 'api', method: 'GET', path: '/v1/accounts/:id/invoices.csv', ok: 200 },
  { app: 'api', method: 'GET', path: '/v1/accounts/:id/usage.csv', ok: 200 },
  { app: 'api', method: 'GET', path: '/v1/accounts/:id/usage/summary', ok: 200 },
  {
    app: 'api',
    method: 'POST',
    path: '/v1/accounts/:id/invoice-exports',
    ok: 202,
    body: () => ({ from: '2026-01-01', to: '2026-01-31' }),
  },
  { app: 'api', method: 'GET', path: '/v1/accounts/:id/invoice-exports/:exportId', ok: 200 },
  { app: 'api', method: 'GET', path: '/v1/accounts/:id/auto-reload', ok: 200 },
  {
    app: 'api',
    method: 'PUT',
    path: '/v1/accounts/:id/auto-reload',
    ok: 200,
    body: () => ({ enabled: false, threshold: '5.00', amount: '20.00' }),
  },
  { app: 'api', method: 'GET', path: '/v1/accounts/:id/budget', ok: 200 },
  { app: 'api', method: 'PUT', path: '/v1/accounts/:id/budget', ok: 200, body: () => ({ amount: '100.00' }) },
  { app: 'api', method: 'DELETE', path: '/v1/accounts/:id/budget', ok: 204 },
  { app: 'api', method: 'GET', path: '/v1/accounts/:id/api-keys/:keyId/budget', ok: 200 },
  {
    app: 'api',
    method: 'PUT',
    path: '/v1/accounts/:id/api-keys/:keyId/budget',
    ok: 200,
    body: () => ({ amount: '10.00', thresholds: [80] }),
  },
  { app: 'api', method: 'DELETE', path: '/v1/accounts/:id/api-keys/:keyId/budget', ok: 204 },
  { app: 'api', method: 'GET', path: '/v1/accounts/:id/projects/:projectId/budget', ok: 200 },
  {
    app: 'api',
    method: 'PUT',
    path: '/v1/accounts/:id/projects/:projectId/budget',
    ok: 200,
    body: () => ({ amount: '10.00' }),
  },
  { app: 'api', method: 'DELETE', path: '/v1/accounts/:id/projects/:projectId/budget', ok: 204 },
  { app: 'api', method: 'GET', path: '/v1/accounts/:id/alert-settings', ok: 200 },
  {
    app: 'api',
    method: 'PUT',
    path: '/v1/accounts/:id/alert-settings',
    ok: 200,
    body: () => ({ low_balance: '5.00', non_essential_enabled: true }),
  },
  { app: 'api', method: 'GET', path: '/v1/accounts/:id/spend', ok: 200 },
  { app: 'api', method: 'GET', path: '/v1/accounts/:id/billing-profile', ok: 200 },
  {
    app: 'api',
    method: 'PUT',
    path: '/v1/accounts/:id/billing-profile',
    ok: 200,
    body: () => ({ legal_name: 'Tenant A Inc.', country: 'US', region: 'CA' }),
  },
  { app: 'api', method: 'GET', path: '/v1/accounts/:id/tax-exemptions', ok: 200 },
  {
    app: 'api',
    method: 'POST',
    path: '/v1/accounts/:id/tax-exemptions',
    ok: 201,
    // A small PDF, different every call (the same document twice is one submission: 200).
    body: () =>
      `--xtenant\r\ncontent-disposition: form-data; name="file"; filename="certificate.pdf"\r\n` +
      `content-type: application/pdf\r\n\r\n%PDF-1.4 ${randomUUID()}\n%%EOF\r\n--xtenant--\r\n`,
    headers: () => ({ 'content-type': 'multipart/form-data; boundary=xtenant' }),
  },
];

const label = (route: { method: string; path: string }) => `${route.method} ${route.path}`;

function fill(path: string, target: Target): string {
  return path
    .replace(':id', target.accountId)
    .replace(':memberId', target.memberId)
    .replace(':projectId', target.projectId)
    .replace(':keyId', target.keyId)
    .replace(':paymentMethodId', target.paymentMethodId)
    .replace(':purchaseId', target.purchaseId)
    .replace(':invoiceId', target.invoiceId)
    .replace(':exportId', target.exportId);
}

describe('workspaces are isolated from each other, and roles limit what a key may do', () => {
  const stack = new BillingStack({ workers: 1, stripe: true, s3: true });
  const tag = randomBytes(4).toString('hex');

  let a: Workspace;
  let b: Workspace;
  let aOwnerKey: string;
  let bOwnerKey: string;
  /** B's own resources, targeted by A's requests. */
  let bTarget: Target;
  /** Strings only B's data contains: none may appear in an answer to A. */
  let bMarkers: string[];
  let bSnapshotBefore: unknown;
  let bCustomerId: string;
  let bStripeBefore: unknown;

  const clientOf = (app: AppKey, token: string | null) =>
    new ApiClient(app === 'ingest' ? stack.ingest.url : stack.api.url, token);

  function call(route: AccountRouteCase, target: Target, token: string): Promise<JsonResponse> {
    return clientOf(route.app, token).request(
      route.method,
      fill(route.path, target),
      route.body?.(target),
      route.headers?.() ?? {},
    );
  }

  /** B's side in Stripe: its PaymentIntents, attached cards and default card. */
  async function stripeStateOf(customerId: string) {
    const stripe = stack.stripeClient();
    const customer = await stripe.customers.retrieve(customerId);
    return {
      intents: (await stripe.paymentIntents.list({ customer: customerId, limit: 100 })).data.map((pi) => [
        pi.id,
        pi.status,
        pi.amount,
      ]),
      cards: (await stripe.customers.listPaymentMethods(customerId, { limit: 100 })).data.map((pm) => pm.id),
      defaultCard: 'deleted' in customer ? null : customer.invoice_settings.default_payment_method,
    };
  }

  async function buyCredits(ws: Workspace, amount = '5.00'): Promise<string> {
    const bought = await stack.admin.post(
      `${ws.path}/purchases`,
      { amount },
      { 'idempotency-key': randomUUID() },
    );
    if (bought.status !== 201) throw new Error(`purchase: ${JSON.stringify(bought.body)}`);
    return bought.body.id;
  }

  /** A zip export of the workspace's invoice PDFs (built by the worker). */
  async function requestExport(ws: Workspace): Promise<string> {
    const requested = await stack.admin.post(`${ws.path}/invoice-exports`, {
      from: '2026-01-01',
      to: '2026-12-31',
    });
    if (requested.status !== 202) throw new Error(`invoice export: ${JSON.stringify(requested.body)}`);
    return requested.body.id;
  }

  /** The invoice issued with a purchase's credit. */
  /** The purchase's invoice, once the worker has rendered its PDF (so its download link answers 200). */
  async function invoiceOf(purchaseId: string): Promise<string> {
    const [row] = await waitFor(
      () => stack.stores.sql<{ id: string; pdf_key: string | null }[]>`
        select id, pdf_key from invoices where purchase_id = ${purchaseId}`,
      (rows) => rows[0]?.pdf_key != null,
      { what: `the invoice PDF of purchase ${purchaseId}` },
    );
    return row.id;
  }

  async function createWorkspace(name: string, email: string): Promise<Workspace> {
    const response = await stack.admin.post('/v1/admin/accounts', { name, email, tier: 'enterprise' });
    if (response.status !== 201) throw new Error(`create account: ${JSON.stringify(response.body)}`);
    return new Workspace(stack, response.body.id);
  }

  async function pushUsage(accountId: string, count: number): Promise<string[]> {
    const events = Array.from({ length: count }, () => ({
      id: randomUUID(),
      account_id: accountId,
      model: MODEL,
      prompt_tokens: 1000,
      completion_tokens: 200,
    }));
    const response = await stack.gateway.post('/v1/usage/events', { events });
    expect(response.status).toBe(202);
    return events.map((event) => event.id);
  }

  /** Everything of a workspace as the operator sees it (without the moment it was read). */
  async function snapshot(ws: Workspace) {
    const read = async (client: ApiClient, path: string) => {
      const response = await client.get(path);
      expect(response.status).toBe(200);
      return response.body;
    };
    const balance = await read(stack.gateway, `${ws.path}/balance`);
    delete balance.as_of;
    return {
      account: await read(stack.admin, ws.path),
      members: await read(stack.admin, `${ws.path}/members`),
      projects: await read(stack.admin, `${ws.path}/projects`),
      apiKeys: await read(stack.admin, `${ws.path}/api-keys`),
      allowlist: await read(stack.admin, `${ws.path}/ip-allowlist`),
      paymentMethods: await read(stack.admin, `${ws.path}/payment-methods`),
      purchases: await read(stack.admin, `${ws.path}/purchases`),
      invoices: await read(stack.admin, `${ws.path}/invoices?limit=500`),
      audit: await read(stack.admin, `${ws.path}/audit-log?limit=1000`),
      balance,
      usage: await read(stack.gateway, `${ws.path}/usage?limit=1000`),
      // Prices are everyone's: a key must not have changed them either.
      models: await read(new ApiClient(stack.api.url), '/v1/models'),
    };
  }

  function expectNoDataOfB(response: JsonResponse): void {
    const text = typeof response.body === 'string' ? response.body : JSON.stringify(response.body ?? '');
    for (const marker of bMarkers) expect(text.toLowerCase()).not.toContain(marker.toLowerCase());
  }

  function expectError(response: JsonResponse, status: number, code: string): void {
    expect({ status: response.status, code: response.body?.error?.code }).toEqual({ status, code });
  }

  /** A member, project, key, card, purchase and SetupIntent of A's own, for one call of the owner key on its workspace. */
  async function freshTargetOfA(): Promise<Target> {
    const purchaseId = await buyCredits(a);
    return {
      accountId: a.accountId,
      memberId: await a.addMember(`fresh-${randomUUID().slice(0, 8)}@a.test`, 'member'),
      projectId: await a.createProject(),
      keyId: (await a.createKey({ role: 'member' })).id,
      paymentMethodId: (await saveCard(stack, a, 'pm_card_mastercard')).id,
      purchaseId,
      invoiceId: await invoiceOf(purchaseId),
      exportId: await requestExport(a),
      setupIntentId: await confirmCardSetup(stack, a, 'pm_card_amex'),
    };
  }

  beforeAll(async () => {
    await stack.start();
    await stack.setPrice(MODEL, '0.15', '0.60');

    a = await createWorkspace(`Tenant A ${tag}`, `a-owner-${tag}@a.test`);
    b = await createWorkspace(`Tenant B ${tag}`, `b-owner-${tag}@b.test`);
    for (const ws of [a, b]) {
      await stack.grant(ws.accountId, '25');
      await ws.purchase('5');
    }
    aOwnerKey = (await a.createKey({ role: 'owner' })).key;
    const aProject = await a.createProject(`a-project-${tag}`);
    await a.addMember(`a-member-${tag}@a.test`, 'billing');
    await a.createKey({ role: 'member', project_id: aProject });

    const bOwner = await b.createKey({ role: 'owner', name: `b-owner-key-${tag}` });
    bOwnerKey = bOwner.key;
    const bProject = await b.createProject(`b-secret-project-${tag}`);
    const bMember = await b.addMember(`b-member-${tag}@b.test`, 'admin');
    const bMemberKey = await b.createKey({
      role: 'member',
      name: `b-member-key-${tag}`,
      project_id: bProject,
      member_id: bMember,
      limit: { amount: '3.00', period: 'weekly' },
    });
    // B restricts its keys to loopback: A clearing or reading that list would be a breach.
    const allowlist = await stack.admin.put(`${b.path}/ip-allowlist`, { cidrs: ['127.0.0.1/32', '::1/128'] });
    expect(allowlist.status).toBe(200);

    // A's default card pays for the purchases of the owner key's own calls.
    await saveCard(stack, a);
    const bCard = (await saveCard(stack, b, 'pm_card_discover')).id;
    const bPurchase = await buyCredits(b, '7.00');
    const bInvoice = await invoiceOf(bPurchase);
    const [{ number: bInvoiceNumber }] = await stack.stores.sql<{ number: string }[]>`
      select number from invoices where id = ${bInvoice}`;
    const bSetupIntent = await confirmCardSetup(stack, b, 'pm_card_amex');
    const bExport = await requestExport(b);
    const [{ stripe_customer_id: bCustomer }] = await stack.stores.sql<{ stripe_customer_id: string }[]>`
      select stripe_customer_id from accounts where id = ${b.accountId}`;
    bCustomerId = bCustomer;

    await pushUsage(a.accountId, 2);
    const bEvents = await pushUsage(b.accountId, 3);
    await stack.drained();
    await waitFor(
      () => stack.gateway.get(`${b.path}/usage`),
      (response) => response.body?.data?.length === 3,
      { what: "B's usage to be readable" },
    );

    bTarget = {
      accountId: b.accountId,
      memberId: bMember,
      projectId: bProject,
      keyId: bMemberKey.id,
      paymentMethodId: bCard,
      purchaseId: bPurchase,
      invoiceId: bInvoice,
      exportId: bExport,
      setupIntentId: bSetupIntent,
    };
    bMarkers = [
      b.accountId,
      `Tenant B ${tag}`,
      `b-owner-${tag}@b.test`,
      `b-member-${tag}@b.test`,
      `b-secret-project-${tag}`,
      `b-owner-key-${tag}`,
      `b-member-key-${tag}`,
      bMember,
      bProject,
      bOwner.id,
      bMemberKey.id,
      bCard,
      bPurchase,
      bInvoice,
      bInvoiceNumber,
      bExport,
      bSetupIntent,
      bCustomer,
      ...bEvents,
    ];
    bSnapshotBefore = await snapshot(b);
    bStripeBefore = await stripeStateOf(bCustomerId);
    // The snapshot really holds B's data, so "unchanged" below means something.
    expect(JSON.stringify(bSnapshotBefore)).toContain(`b-secret-project-${tag}`);
    expect(JSON.stringify(bSnapshotBefore)).toContain(bEvents[0]);
    expect(JSON.stringify(bSnapshotBefore)).toContain(bPurchase);
    expect(bStripeBefore).toMatchObject({
      intents: [[expect.any(String), 'succeeded', 700]],
      cards: expect.arrayContaining([bCard]),
    });
  });

  afterAll(() => stack.stop());

  describe("workspace A's owner key on workspace B", () => {
    it('the route table lists every account route the apps document', async () => {
      const documented: string[] = [];
      for (const app of ['ingest', 'api'] as const) {
        const response = await fetch(`${clientOf(app, null).baseUrl}/docs-json`);
        expect(response.status).toBe(200);
        const spec = (await response.json()) as { paths: Record<string, Record<string, unknown>> };
        for (const [path, operations] of Object.entries(spec.paths)) {
          if (!path.startsWith('/v1/accounts/{id}')) continue;
          for (const method of Object.keys(operations)) {
            documented.push(`${app} ${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`);
          }
        }
      }
      const tabled = ACCOUNT_ROUTES.map((route) => `${route.app} ${label(route)}`);
      expect(documented.length).toBeGreaterThan(0);
      expect([...tabled].sort()).toEqual([...documented].sort());
    });

    it.each(ACCOUNT_ROUTES.map((route) => [label(route), route] as const))(
      '%s answers 404 account_not_found, exactly as for an account that does not exist, with none of B\u2019s data',
      async (_, route) => {
        const response = await call(route, bTarget, aOwnerKey);
        expectError(response, 404, 'account_not_found');
        expectNoDataOfB(response);

        const nowhere = await call(route, { ...bTarget, accountId: randomUUID() }, aOwnerKey);
        expect({ status: response.status, body: response.body }).toEqual({
          status: nowhere.status,
          body: nowhere.body,
        });
      },
    );

    it.each(ACCOUNT_ROUTES.map((route) => [label(route), route] as const))(
      '%s with B\u2019s id in upper case is refused the same way',
      async (_, route) => {
        const response = await call(route, { ...bTarget, accountId: b.accountId.toUpperCase() }, aOwnerKey);
        expectError(response, 404, 'account_not_found');
        expectNoDataOfB(response);
      },
    );

    it.each(ACCOUNT_ROUTES.map((route) => [label(route), route] as const))(
      '%s works for the same key on its own workspace (the route exists)',
      async (_, route) => {
        const response = await call(route, await freshTargetOfA(), aOwnerKey);
        expect({ status: response.status, body: response.body }).toEqual({
          status: route.ok,
          body: route.ok === 204 ? undefined : expect.anything(),
        });
        expectNoDataOfB(response);
      },
    );

    it.each(
      ACCOUNT_ROUTES.filter((route) => route.method === 'GET').map((route) => [label(route), route] as const),
    )('%s with a member-role key of A also answers 404, not 403, on B', async (_, route) => {
      const memberKey = (await a.createKey({ role: 'member' })).key;
      const response = await call(route, bTarget, memberKey);
      expectError(response, 404, 'account_not_found');
      expectNoDataOfB(response);
    });
  });

  describe("B's resource ids under A's own account path", () => {
    const cases: [string, Method, (t: Target) => string, () => unknown, number, string][] = [
      [
        'PATCH members/:memberId',
        'PATCH',
        (t) => `/members/${t.memberId}`,
        () => ({ role: 'member' }),
        404,
        'member_not_found',
      ],
      [
        'DELETE members/:memberId',
        'DELETE',
        (t) => `/members/${t.memberId}`,
        () => undefined,
        404,
        'member_not_found',
      ],
      [
        'PATCH projects/:projectId',
        'PATCH',
        (t) => `/projects/${t.projectId}`,
        () => ({ archived: true }),
        404,
        'project_not_found',
      ],
      [
        'GET api-keys/:keyId',
        'GET',
        (t) => `/api-keys/${t.keyId}`,
        () => undefined,
        404,
        'api_key_not_found',
      ],
      [
        'PATCH api-keys/:keyId',
        'PATCH',
        (t) => `/api-keys/${t.keyId}`,
        () => ({ name: 'hijacked' }),
        404,
        'api_key_not_found',
      ],
      [
        'DELETE api-keys/:keyId',
        'DELETE',
        (t) => `/api-keys/${t.keyId}`,
        () => undefined,
        404,
        'api_key_not_found',
      ],
      [
        'PUT api-keys/:keyId/budget',
        'PUT',
        (t) => `/api-keys/${t.keyId}/budget`,
        () => ({ amount: '1.00' }),
        404,
        'api_key_not_found',
      ],
      [
        'GET projects/:projectId/budget',
        'GET',
        (t) => `/projects/${t.projectId}/budget`,
        () => undefined,
        404,
        'project_not_found',
      ],
      [
        "POST payment-methods with B's confirmed SetupIntent",
        'POST',
        () => '/payment-methods',
        () => ({ setup_intent_id: bTarget.setupIntentId }),
        404,
        'setup_intent_not_found',
      ],
      [
        'POST payment-methods/:paymentMethodId/default',
        'POST',
        (t) => `/payment-methods/${t.paymentMethodId}/default`,
        () => undefined,
        404,
        'payment_method_not_found',
      ],
      [
        'DELETE payment-methods/:paymentMethodId',
        'DELETE',
        (t) => `/payment-methods/${t.paymentMethodId}`,
        () => undefined,
        404,
        'payment_method_not_found',
      ],
      [
        "POST purchases charged to B's card",
        'POST',
        () => '/purchases',
        () => ({ amount: '5.00', payment_method_id: bTarget.paymentMethodId }),
        404,
        'payment_method_not_found',
      ],
      [
        'GET invoice-exports/:exportId',
        'GET',
        (t) => `/invoice-exports/${t.exportId}`,
        () => undefined,
        404,
        'invoice_export_not_found',
      ],
      [
        'GET purchases/:purchaseId',
        'GET',
        (t) => `/purchases/${t.purchaseId}`,
        () => undefined,
        404,
        'purchase_not_found',
      ],
      [
        "POST api-keys attributed to B's project",
        'POST',
        () => '/api-keys',
        () => ({ name: 'cross project', project_id: bTarget.projectId }),
        422,
        'unknown_project',
      ],
      [
        "POST api-keys owned by B's member",
        'POST',
        () => '/api-keys',
        () => ({ name: 'cross member', member_id: bTarget.memberId }),
        422,
        'unknown_member',
      ],
    ];

    it.each(cases)('%s is refused as unknown', async (_, method, suffix, body, status, code) => {
      const response = await new ApiClient(stack.api.url, aOwnerKey).request(
        method,
        `${a.path}${suffix(bTarget)}`,
        body(),
        // Only purchases read it; elsewhere it is ignored.
        { 'idempotency-key': randomUUID() },
      );
      expectError(response, status, code);
      expectNoDataOfB(response);
    });
  });

  describe('keys on gateway and admin routes', () => {
    const routes: [string, AppKey, Method, () => string, () => unknown, Record<string, string>?][] = [
      [
        'POST /v1/usage/events',
        'ingest',
        'POST',
        () => '/v1/usage/events',
        () => ({
          events: [
            {
              id: randomUUID(),
              account_id: b.accountId,
              model: MODEL,
              prompt_tokens: 10,
              completion_tokens: 1,
            },
          ],
        }),
      ],
      [
        'POST /v1/authorize',
        'ingest',
        'POST',
        () => '/v1/authorize',
        () => ({ account_id: b.accountId, model: MODEL }),
      ],
      ['GET /v1/models', 'api', 'GET', () => '/v1/models', () => undefined],
      [
        'POST /v1/admin/accounts',
        'api',
        'POST',
        () => '/v1/admin/accounts',
        () => ({ name: 'made by a key', email: 'x@a.test', tier: 'enterprise' }),
      ],
      [
        'PATCH /v1/admin/accounts/:id',
        'api',
        'PATCH',
        () => `/v1/admin/accounts/${b.accountId}`,
        () => ({ tier: 'free', status: 'suspended', name: 'taken over' }),
      ],
      [
        'POST /v1/admin/accounts/:id/credit-grants',
        'api',
        'POST',
        () => `/v1/admin/accounts/${b.accountId}/credit-grants`,
        () => ({ amount: '1000', reason: 'free money', kind: 'purchase' }),
        { 'idempotency-key': randomUUID() },
      ],
      [
        'PUT /v1/admin/models/:model',
        'api',
        'PUT',
        () => `/v1/admin/models/${encodeURIComponent(MODEL)}`,
        () => ({ prompt_price_per_mtok: '0', completion_price_per_mtok: '0' }),
      ],
      ['POST /v1/admin/reconcile', 'api', 'POST', () => '/v1/admin/reconcile', () => undefined],
      [
        'PUT /v1/admin/accounts/:id/invoice-billing',
        'api',
        'PUT',
        () => `/v1/admin/accounts/${b.accountId}/invoice-billing`,
        () => ({ payment_terms_days: 60, credit_limit: '1000000.00' }),
      ],
      [
        'POST /v1/admin/invoice-statements/run',
        'api',
        'POST',
        () => '/v1/admin/invoice-statements/run',
        () => ({ month: '2026-01' }),
      ],
      [
        'POST /v1/admin/invoices/:id/payments',
        'api',
        'POST',
        () => `/v1/admin/invoices/${randomUUID()}/payments`,
        () => ({}),
        { 'idempotency-key': randomUUID() },
      ],
    ];

    // One argument per row: jest would take a sixth parameter missing from a row for a done callback.
    it.each(routes.map((route) => [route[0], route] as const))(
      "%s answers 403 to A's key and to B's own owner key",
      async (_, [, app, method, path, body, headers]) => {
        for (const key of [aOwnerKey, bOwnerKey]) {
          const response = await clientOf(app, key).request(method, path(), body(), headers);
          expectError(response, 403, 'forbidden');
        }
      },
    );

    it('answers 401 to a well-formed key that was never issued', async () => {
      const forged = `bk_${'a'.repeat(12)}_${randomBytes(32).toString('base64url')}`;
      const onApi = await clientOf('api', forged).get(b.path);
      const onIngest = await clientOf('ingest', forged).get(`${b.path}/balance`);
      expectError(onApi, 401, 'unauthorized');
      expectError(onIngest, 401, 'unauthorized');
      expectNoDataOfB(onApi);
      expectNoDataOfB(onIngest);
    });

    it('answers 401 to B\u2019s key with one character of its secret changed', async () => {
      const last = bOwnerKey.slice(-1);
      const tampered = bOwnerKey.slice(0, -1) + (last === 'A' ? 'B' : 'A');
      const response = await clientOf('ingest', tampered).get(`${b.path}/balance`);
      expect(response.status).toBe(401);
      expectNoDataOfB(response);
    });
  });

  describe('roles', () => {
    let memberKey: string;
    let billingKey: string;
    let adminKey: string;
    let ownerMemberId: string;

    const apiAs = (key: string) => new ApiClient(stack.api.url, key);
    const ingestAs = (key: string) => new ApiClient(stack.ingest.url, key);

    beforeAll(async () => {
      memberKey = (await a.createKey({ role: 'member' })).key;
      billingKey = (await a.createKey({ role: 'billing' })).key;
      adminKey = (await a.createKey({ role: 'admin' })).key;
      const members = await stack.admin.get(`${a.path}/members`);
      ownerMemberId = members.body.members.find((member: { role: string }) => member.role === 'owner').id;
    });

    const readsOfEveryRole: [string, AppKey, string][] = [
      ['GET balance', 'ingest', '/balance'],
      ['GET usage', 'ingest', '/usage'],
      ['GET account', 'api', ''],
      ['GET members', 'api', '/members'],
      ['GET projects', 'api', '/projects'],
    ];

    it.each(readsOfEveryRole)('a member key may %s', async (_, app, suffix) => {
      const response = await (app === 'ingest' ? ingestAs : apiAs)(memberKey).get(`${a.path}${suffix}`);
      expect(response.status).toBe(200);
    });

    it('a member key sees its own balance and usage', async () => {
      const balance = await ingestAs(memberKey).get(`${a.path}/balance`);
      expect(balance.body).toEqual(expect.objectContaining({ account_id: a.accountId, currency: 'USD' }));
      const usage = await ingestAs(memberKey).get(`${a.path}/usage`);
      expect(usage.body.data.length).toBeGreaterThanOrEqual(2);
    });

    const memberRefusals: [string, Method, string, () => unknown][] = [
      ['create a key', 'POST', '/api-keys', () => ({ name: 'by member', role: 'member' })],
      ['list keys', 'GET', '/api-keys', () => undefined],
      [
        'add a member',
        'POST',
        '/members',
        () => ({ email: `m-${randomUUID().slice(0, 6)}@a.test`, role: 'member' }),
      ],
      ['create a project', 'POST', '/projects', () => ({ name: `by member ${randomUUID().slice(0, 6)}` })],
      ['read the audit log', 'GET', '/audit-log', () => undefined],
      ['read the IP allowlist', 'GET', '/ip-allowlist', () => undefined],
      ['change the IP allowlist', 'PUT', '/ip-allowlist', () => ({ cidrs: [] })],
      ['list cards', 'GET', '/payment-methods', () => undefined],
      ['start adding a card', 'POST', '/payment-methods/setup-intents', () => undefined],
      ['buy credits', 'POST', '/purchases', () => ({ amount: '5.00' })],
      ['list purchases', 'GET', '/purchases', () => undefined],
    ];

    it.each(memberRefusals)(
      'a member key may not %s (403 insufficient_role)',
      async (_, method, suffix, body) => {
        const before = await snapshot(a);
        const response = await apiAs(memberKey).request(method, `${a.path}${suffix}`, body());
        expectError(response, 403, 'insufficient_role');
        expect(await snapshot(a)).toEqual(before);
      },
    );

    it.each(readsOfEveryRole)('a billing key may %s', async (_, app, suffix) => {
      const response = await (app === 'ingest' ? ingestAs : apiAs)(billingKey).get(`${a.path}${suffix}`);
      expect(response.status).toBe(200);
    });

    it('a billing key may not create, list, read, rename or revoke keys', async () => {
      const victim = await a.createKey({ role: 'member' });
      const attempts: [Method, string, unknown][] = [
        ['POST', '/api-keys', { name: 'by billing', role: 'billing' }],
        ['POST', '/api-keys', { name: 'by billing', role: 'member' }],
        ['GET', '/api-keys', undefined],
        ['GET', `/api-keys/${victim.id}`, undefined],
        ['PATCH', `/api-keys/${victim.id}`, { name: 'renamed by billing' }],
        ['DELETE', `/api-keys/${victim.id}`, undefined],
      ];
      for (const [method, suffix, body] of attempts) {
        const response = await apiAs(billingKey).request(method, `${a.path}${suffix}`, body);
        expectError(response, 403, 'insufficient_role');
      }
      const after = await stack.admin.get(`${a.path}/api-keys/${victim.id}`);
      expect(after.body).toEqual(expect.objectContaining({ name: victim.body.name, status: 'active' }));
      expect((await ingestAs(victim.key).get(`${a.path}/balance`)).status).toBe(200);
    });

    it('a billing key may add a card, buy credits and read its purchases', async () => {
      const billing = apiAs(billingKey);
      const card = await saveCard(stack, a, 'pm_card_visa_debit', billing);
      const purchase = await billing.post(
        `${a.path}/purchases`,
        { amount: '5.00', payment_method_id: card.id },
        { 'idempotency-key': randomUUID() },
      );
      expect(purchase.status).toBe(201);
      expect((await billing.get(`${a.path}/purchases/${purchase.body.id}`)).status).toBe(200);
    });

    it('an admin key may not create an owner key', async () => {
      const keysBefore = (await stack.admin.get(`${a.path}/api-keys`)).body.api_keys.length;
      const response = await apiAs(adminKey).post(`${a.path}/api-keys`, { name: 'escalate', role: 'owner' });
      expectError(response, 403, 'insufficient_role');
      expect((await stack.admin.get(`${a.path}/api-keys`)).body.api_keys).toHaveLength(keysBefore);
    });

    it('an admin key may not demote, remove or replace the owner', async () => {
      const attempts: [Method, string, unknown][] = [
        ['PATCH', `/members/${ownerMemberId}`, { role: 'admin' }],
        ['PATCH', `/members/${ownerMemberId}`, { role: 'member' }],
        ['DELETE', `/members/${ownerMemberId}`, undefined],
      ];
      for (const [method, suffix, body] of attempts) {
        const response = await apiAs(adminKey).request(method, `${a.path}${suffix}`, body);
        expect([403, 409]).toContain(response.status);
        expect(['insufficient_role', 'owner_transfer_required']).toContain(response.body.error.code);
      }
      const newcomer = await a.addMember(`newcomer-${randomUUID().slice(0, 6)}@a.test`, 'member');
      const transfer = await apiAs(adminKey).patch(`${a.path}/members/${newcomer}`, { role: 'owner' });
      expectError(transfer, 403, 'insufficient_role');

      const members = (await stack.admin.get(`${a.path}/members`)).body.members;
      expect(members.filter((member: { role: string }) => member.role === 'owner')).toEqual([
        expect.objectContaining({ id: ownerMemberId, email: `a-owner-${tag}@a.test` }),
      ]);
    });

    it("an admin key may not revoke or change the owner's key", async () => {
      const ownerKey = await a.createKey({ role: 'owner' });
      for (const [method, body] of [
        ['DELETE', undefined],
        ['PATCH', { name: 'renamed by admin' }],
      ] as const) {
        const response = await apiAs(adminKey).request(method, `${a.path}/api-keys/${ownerKey.id}`, body);
        expectError(response, 403, 'insufficient_role');
      }
      expect((await apiAs(ownerKey.key).get(a.path)).status).toBe(200);
    });

    it('an admin key may still manage keys and members below the owner', async () => {
      const key = await apiAs(adminKey).post(`${a.path}/api-keys`, { name: 'by admin', role: 'admin' });
      expect(key.status).toBe(201);
      const member = await apiAs(adminKey).post(`${a.path}/members`, {
        email: `by-admin-${randomUUID().slice(0, 6)}@a.test`,
        role: 'billing',
      });
      expect(member.status).toBe(201);
      expect((await apiAs(adminKey).delete(`${a.path}/members/${member.body.id}`)).status).toBe(204);
    });
  });

  describe('afterwards', () => {
    it("B's workspace is exactly as it was: members, projects, keys, allowlist, audit log, balance, usage", async () => {
      // Had a refused usage batch been accepted after all, it would show once the queue is empty.
      await stack.drained();
      expect(await snapshot(b)).toEqual(bSnapshotBefore);
    });

    it("B's Stripe customer is untouched: no charge, no card attached, detached or made default", async () => {
      expect(await stripeStateOf(bCustomerId)).toEqual(bStripeBefore);
    });

    it("B's keys still work from B's allowed addresses", async () => {
      const response = await new ApiClient(stack.api.url, bOwnerKey).get(
        `${b.path}/api-keys/${bTarget.keyId}`,
      );
      expect(response.status).toBe(200);
      expect(response.body).toEqual(
        expect.objectContaining({ name: `b-member-key-${tag}`, status: 'active' }),
      );
    });

    it("no audit row was written to B's log by A's attempts", async () => {
      const rows = await stack.stores.sql<{ n: bigint }[]>`
        select count(*)::bigint as n from audit_log where account_id = ${b.accountId} and actor_type = 'api_key'`;
      expect(rows[0].n).toBe(0n);
    });
  });
});
