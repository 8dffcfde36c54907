import { randomUUID } from 'node:crypto';
import { ApiClient, JsonResponse } from '../support/api-client';
import { AppProcess } from '../support/app-process';
import { BillingStack } from '../support/billing-stack';
import { TEST_ADMIN_TOKEN } from '../support/test-stores';
import { Workspace } from '../support/workspace';

type AppKey = 'ingest' | 'api';
type Family = 'IPv4' | 'IPv6';

/** The IPv4 loopback as a dual-stack socket reports it, or plainly. */
const LOOPBACK_V4 = /^(::ffff:)?127\.0\.0\.1$/;

interface RouteCall {
  app: AppKey;
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Below /v1/accounts/:id. */
  suffix: string;
  body?: () => unknown;
}

/** Account routes read by a workspace key; an allowed address gets 200 from each. */
const READS: RouteCall[] = [
  { app: 'ingest', method: 'GET', suffix: '/balance' },
  { app: 'ingest', method: 'GET', suffix: '/usage' },
  { app: 'api', method: 'GET', suffix: '' },
  { app: 'api', method: 'GET', suffix: '/members' },
  { app: 'api', method: 'GET', suffix: '/projects' },
  { app: 'api', method: 'GET', suffix: '/api-keys' },
  { app: 'api', method: 'GET', suffix: '/ip-allowlist' },
  { app: 'api', method: 'GET', suffix: '/audit-log' },
];

/** Writes too: from a refused address none of them may happen. */
const WRITES: RouteCall[] = [
  {
    app: 'api',
    method: 'POST',
    suffix: '/members',
    body: () => ({ email: `m-${randomUUID().slice(0, 8)}@x.test`, role: 'member' }),
  },
  {
    app: 'api',
    method: 'POST',
    suffix: '/projects',
    body: () => ({ name: `p ${randomUUID().slice(0, 8)}` }),
  },
  { app: 'api', method: 'POST', suffix: '/api-keys', body: () => ({ name: 'from outside', role: 'owner' }) },
  { app: 'api', method: 'PUT', suffix: '/ip-allowlist', body: () => ({ cidrs: [] }) },
];

const callLabel = (call: RouteCall) => `${call.method} /v1/accounts/:id${call.suffix} (${call.app})`;

describe('IP allowlists on account routes', () => {
  const stack = new BillingStack({ workers: 1, env: { HOST: '::', TRUST_PROXY: 'loopback' } });
  /** The api app once more, trusting no proxy: X-Forwarded-For means nothing to it. */
  let untrustingApi: AppProcess;
  let ws: Workspace;
  let owner: { id: string; key: string };

  /** Every successful change, in order, as the audit log must show it. */
  const changes: {
    before: string[];
    after: string[];
    actor: { type: string; id: string | null };
    ip: RegExp;
  }[] = [];

  function baseUrl(app: AppKey, family: Family): string {
    const port = app === 'ingest' ? stack.ingest.port : stack.api.port;
    return family === 'IPv4' ? `http://127.0.0.1:${port}` : `http://[::1]:${port}`;
  }

  function send(
    call: RouteCall,
    family: Family,
    token: string,
    headers: Record<string, string> = {},
    accountPath = ws.path,
  ): Promise<JsonResponse> {
    return new ApiClient(baseUrl(call.app, family), token).request(
      call.method,
      `${accountPath}${call.suffix}`,
      call.body?.(),
      headers,
    );
  }

  const putList = (cidrs: string[], family: Family, token: string, headers: Record<string, string> = {}) =>
    send(
      { app: 'api', method: 'PUT', suffix: '/ip-allowlist', body: () => ({ cidrs }) },
      family,
      token,
      headers,
    );

  async function listNow(): Promise<string[]> {
    const response = await stack.admin.get(`${ws.path}/ip-allowlist`);
    expect(response.status).toBe(200);
    return response.body.cidrs;
  }

  async function expectAllowed(family: Family, headers: Record<string, string> = {}): Promise<void> {
    for (const call of READS) {
      const response = await send(call, family, owner.key, headers);
      expect({ route: callLabel(call), status: response.status }).toEqual({
        route: callLabel(call),
        status: 200,
      });
    }
  }

  async function expectRefused(family: Family, headers: Record<string, string> = {}): Promise<void> {
    const projectsBefore = (await stack.admin.get(`${ws.path}/projects`)).body;
    const membersBefore = (await stack.admin.get(`${ws.path}/members`)).body;
    const keysBefore = (await stack.admin.get(`${ws.path}/api-keys`)).body;
    const listBefore = await listNow();
    for (const call of [...READS, ...WRITES]) {
      const response = await send(call, family, owner.key, headers);
      expect({ route: callLabel(call), status: response.status, code: response.body?.error?.code }).toEqual({
        route: callLabel(call),
        status: 403,
        code: 'ip_not_allowed',
      });
    }
    expect((await stack.admin.get(`${ws.path}/projects`)).body).toEqual(projectsBefore);
    expect((await stack.admin.get(`${ws.path}/members`)).body).toEqual(membersBefore);
    expect((await stack.admin.get(`${ws.path}/api-keys`)).body).toEqual(keysBefore);
    expect(await listNow()).toEqual(listBefore);
  }

  async function expectSaved(
    response: JsonResponse,
    cidrs: string[],
    actor: { type: string; id: string | null },
    ip: RegExp,
  ): Promise<void> {
    expect({ status: response.status, body: response.body }).toEqual({ status: 200, body: { cidrs } });
    const before = changes.length > 0 ? changes[changes.length - 1].after : [];
    changes.push({ before, after: cidrs, actor, ip });
    expect(await listNow()).toEqual(cidrs);
  }

  const ownerActor = () => ({ type: 'api_key', id: owner.id });
  const adminActor = { type: 'admin', id: null };

  beforeAll(async () => {
    await stack.start();
    untrustingApi = new AppProcess('api', stack.stores.env({ HOST: '::' }));
    await untrustingApi.start();
    ws = await Workspace.create(stack, 'enterprise');
    await stack.grant(ws.accountId, '10');
    const created = await ws.createKey({ role: 'owner' });
    owner = { id: created.id, key: created.key };
  });

  afterAll(async () => {
    await untrustingApi?.stop();
    await stack.stop();
  });

  it('with an empty list the key works over IPv4 and IPv6', async () => {
    expect(await listNow()).toEqual([]);
    await expectAllowed('IPv4');
    await expectAllowed('IPv6');
  });

  describe("['127.0.0.1/32']", () => {
    it('is saved by the owner key from 127.0.0.1', async () => {
      await expectSaved(
        await putList(['127.0.0.1/32'], 'IPv4', owner.key),
        ['127.0.0.1/32'],
        ownerActor(),
        LOOPBACK_V4,
      );
    });

    it('lets the key in from 127.0.0.1', () => expectAllowed('IPv4'));

    it('refuses the key from ::1 on every account route, changing nothing', () => expectRefused('IPv6'));

    it('refuses a change that would lock the calling key out, and keeps the list', async () => {
      for (const cidrs of [['::1/128'], ['203.0.113.0/24', '2001:db8::/32']]) {
        const response = await putList(cidrs, 'IPv4', owner.key);
        expect({ status: response.status, code: response.body?.error?.code }).toEqual({
          status: 422,
          code: 'would_lock_out_caller',
        });
      }
      expect(await listNow()).toEqual(['127.0.0.1/32']);
      await expectAllowed('IPv4');
    });
  });

  describe("['::1/128']", () => {
    it('is saved by the admin token (which the lock-out guard does not stop)', async () => {
      await expectSaved(
        await putList(['::1/128'], 'IPv4', TEST_ADMIN_TOKEN),
        ['::1/128'],
        adminActor,
        LOOPBACK_V4,
      );
    });

    it('lets the key in from ::1', () => expectAllowed('IPv6'));

    it('refuses the key from 127.0.0.1 on every account route, changing nothing', () =>
      expectRefused('IPv4'));

    it('lets the key widen the list from ::1, with entries normalised', async () => {
      await expectSaved(
        await putList(['::1', '127.0.0.1'], 'IPv6', owner.key),
        ['::1/128', '127.0.0.1/32'],
        ownerActor(),
        /^::1$/,
      );
      await expectAllowed('IPv4');
      await expectAllowed('IPv6');
    });
  });

  describe("['203.0.113.0/24', '2001:db8::/32'] behind a trusted loopback proxy", () => {
    beforeAll(async () => {
      await expectSaved(
        await putList(['203.0.113.0/24', '2001:db8::/32'], 'IPv4', TEST_ADMIN_TOKEN),
        ['203.0.113.0/24', '2001:db8::/32'],
        adminActor,
        LOOPBACK_V4,
      );
    });

    const cases: [string, Family, 'allowed' | 'refused'][] = [
      ['203.0.113.7', 'IPv4', 'allowed'],
      ['198.51.100.1', 'IPv4', 'refused'],
      ['2001:db8::42', 'IPv4', 'allowed'],
      ['2001:db9::1', 'IPv4', 'refused'],
      ['203.0.113.7', 'IPv6', 'allowed'],
      ['198.51.100.1', 'IPv6', 'refused'],
      ['2001:db8::42', 'IPv6', 'allowed'],
      ['2001:db9::1', 'IPv6', 'refused'],
      ['203.0.113.255', 'IPv4', 'allowed'],
      ['203.0.114.0', 'IPv4', 'refused'],
      ['2001:db8:ffff:ffff:ffff:ffff:ffff:ffff', 'IPv6', 'allowed'],
      ['::ffff:203.0.113.7', 'IPv4', 'allowed'],
      // A client cannot prepend an allowed address: the proxy appends the real one, and that counts.
      ['203.0.113.7, 198.51.100.1', 'IPv4', 'refused'],
      ['198.51.100.1, 203.0.113.7', 'IPv4', 'allowed'],
    ];

    it.each(cases)(
      'X-Forwarded-For %s through a proxy on %s loopback is %s',
      async (forwarded, family, verdict) => {
        const headers = { 'x-forwarded-for': forwarded };
        if (verdict === 'allowed') await expectAllowed(family, headers);
        else await expectRefused(family, headers);
      },
    );

    it('refuses the proxy itself (loopback is not in the list)', async () => {
      await expectRefused('IPv4');
      await expectRefused('IPv6');
    });

    it('ignores X-Forwarded-For on a server that trusts no proxy', async () => {
      const response = await new ApiClient(untrustingApi.url, owner.key).get(ws.path);
      expect(response.status).toBe(403);
      const forwarded = await new ApiClient(untrustingApi.url, owner.key).request('GET', ws.path, undefined, {
        'x-forwarded-for': '203.0.113.7',
      });
      expect({ status: forwarded.status, code: forwarded.body?.error?.code }).toEqual({
        status: 403,
        code: 'ip_not_allowed',
      });
      // ...while the same request through the trusting server is let in.
      const trusted = await new ApiClient(stack.api.url, owner.key).request('GET', ws.path, undefined, {
        'x-forwarded-for': '203.0.113.7',
      });
      expect(trusted.status).toBe(200);
    });

    it('lets a key behind the proxy narrow the list to its own range, audited with its forwarded address', async () => {
      const headers = { 'x-forwarded-for': '203.0.113.7' };
      await expectSaved(
        await putList(['203.0.113.0/24'], 'IPv4', owner.key, headers),
        ['203.0.113.0/24'],
        ownerActor(),
        /^203\.0\.113\.7$/,
      );
      await expectAllowed('IPv4', headers);
      await expectRefused('IPv4', { 'x-forwarded-for': '2001:db8::42' });
    });

    it('the admin token and gateway tokens are not subject to the list, from any address', async () => {
      for (const family of ['IPv4', 'IPv6'] as const) {
        for (const call of READS) {
          const response = await send(call, family, TEST_ADMIN_TOKEN);
          expect({ route: callLabel(call), status: response.status }).toEqual({
            route: callLabel(call),
            status: 200,
          });
        }
        for (const suffix of ['/balance', '/usage']) {
          const response = await new ApiClient(baseUrl('ingest', family)).get(`${ws.path}${suffix}`);
          expect(response.status).toBe(200);
        }
      }
      const outside = { 'x-forwarded-for': '198.51.100.1' };
      expect((await send(READS[2], 'IPv4', TEST_ADMIN_TOKEN, outside)).status).toBe(200);
      const project = await send(
        { app: 'api', method: 'POST', suffix: '/projects', body: () => ({ name: 'by the operator' }) },
        'IPv4',
        TEST_ADMIN_TOKEN,
        outside,
      );
      expect(project.status).toBe(201);
    });

    it('an empty list opens the workspace again', async () => {
      await expectSaved(await putList([], 'IPv4', TEST_ADMIN_TOKEN), [], adminActor, LOOPBACK_V4);
      await expectAllowed('IPv4');
      await expectAllowed('IPv6');
      await expectAllowed('IPv4', { 'x-forwarded-for': '198.51.100.1' });
    });
  });

  describe('validation', () => {
    it.each([
      'not-an-ip',
      '10.0.0.0/33',
      '2001:db8::/129',
      '300.1.2.3',
      '10.1',
      '010.0.0.1',
      '10.0.0.0/',
      '10.0.0.0/-1',
      '1.2.3.4/24/8',
      'fe80::1%eth0',
      '2001:db8:::1',
      '',
      ' ',
    ])('refuses %j with 422 invalid_cidr and keeps the list', async (entry) => {
      const saved = await listNow();
      const response = await putList(['192.0.2.0/24', entry], 'IPv4', TEST_ADMIN_TOKEN);
      expect(response.status).toBe(422);
      expect(response.body.error.code).toBe('invalid_cidr');
      expect(JSON.stringify(response.body)).toContain('cidrs.1');
      expect(await listNow()).toEqual(saved);
    });

    it.each([
      ['a number', [42]],
      ['null', [null]],
      ['not a list', '10.0.0.0/8'],
    ])('refuses an entry that is %s with 422', async (_, cidrs) => {
      const saved = await listNow();
      const response = await stack.admin.put(`${ws.path}/ip-allowlist`, { cidrs });
      expect(response.status).toBe(422);
      expect(await listNow()).toEqual(saved);
    });

    it('normalises addresses and ranges: network address, lower case, /32 or /128 for a host, no duplicates', async () => {
      const response = await putList(
        [
          '10.1.2.3/8',
          '2001:DB8:0:0::1/32',
          '192.0.2.5',
          '192.0.2.5/32',
          '::ffff:198.51.100.0/120',
          '::1',
          '127.0.0.1',
        ],
        'IPv4',
        TEST_ADMIN_TOKEN,
      );
      await expectSaved(
        response,
        ['10.0.0.0/8', '2001:db8::/32', '192.0.2.5/32', '198.51.100.0/24', '::1/128', '127.0.0.1/32'],
        adminActor,
        LOOPBACK_V4,
      );
      await expectAllowed('IPv4');
      await expectAllowed('IPv6');
      await expectAllowed('IPv4', { 'x-forwarded-for': '10.200.3.4' });
      await expectAllowed('IPv4', { 'x-forwarded-for': '198.51.100.77' });
      await expectRefused('IPv4', { 'x-forwarded-for': '192.0.2.6' });
    });
  });

  describe('tiers', () => {
    it.each(['developer', 'free'] as const)(
      'a %s workspace cannot set a non-empty list (403 enterprise_only), with the admin token or its owner key',
      async (tier) => {
        const other = await Workspace.create(stack, tier);
        const key = (await other.createKey({ role: 'owner' })).key;
        for (const token of [TEST_ADMIN_TOKEN, key]) {
          const response = await new ApiClient(stack.api.url, token).put(`${other.path}/ip-allowlist`, {
            cidrs: ['127.0.0.1/32', '::1/128'],
          });
          expect({ status: response.status, code: response.body?.error?.code }).toEqual({
            status: 403,
            code: 'enterprise_only',
          });
        }
        expect((await stack.admin.get(`${other.path}/ip-allowlist`)).body).toEqual({ cidrs: [] });
        const audit = await stack.admin.get(`${other.path}/audit-log?action=ip_allowlist.changed`);
        expect(audit.body.entries).toEqual([]);
        // Its keys keep working from anywhere.
        expect((await new ApiClient(stack.ingest.url, key).get(`${other.path}/balance`)).status).toBe(200);
        expect(
          (
            await new ApiClient(stack.ingest.url, key).request('GET', `${other.path}/balance`, undefined, {
              'x-forwarded-for': '198.51.100.1',
            })
          ).status,
        ).toBe(200);
      },
    );
  });

  describe('audit log', () => {
    it('shows every change as ip_allowlist.changed with before/after, actor and source address, and nothing for refused ones', async () => {
      const response = await stack.admin.get(`${ws.path}/audit-log?action=ip_allowlist.changed&limit=1000`);
      expect(response.status).toBe(200);
      const entries = [...response.body.entries].reverse();
      expect(entries.map((entry: any) => entry.after)).toEqual(
        changes.map((change) => ({ cidrs: change.after })),
      );
      entries.forEach((entry: any, i: number) => {
        const change = changes[i];
        expect(entry).toEqual(
          expect.objectContaining({
            action: 'ip_allowlist.changed',
            actor: change.actor,
            target: { type: 'account', id: ws.accountId },
            before: { cidrs: change.before },
            after: { cidrs: change.after },
          }),
        );
        expect(entry.source_ip).toMatch(change.ip);
      });
      expect(changes.length).toBeGreaterThanOrEqual(7);
    });

    it('the owner key reads the same entries itself', async () => {
      const response = await new ApiClient(stack.api.url, owner.key).get(
        `${ws.path}/audit-log?action=ip_allowlist.changed&limit=1000`,
      );
      expect(response.status).toBe(200);
      expect(response.body.entries).toHaveLength(changes.length);
    });
  });
});
