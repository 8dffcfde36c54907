import { randomUUID } from 'node:crypto';
import { BillingStack } from '../support/billing-stack';
import { TcpProxy } from '../support/tcp-proxy';
import { PG_ADMIN_URL } from '../support/test-stores';
import { seededRandom, usageEvent } from '../support/usage-events';
import { waitFor } from '../support/wait-for';
import { logLines } from '../support/json-logs';

const MODEL = 'openai/gpt-4.1';

/**
 * The apps reach Postgres through a proxy that the test takes down, as when Postgres's host goes
 * away: an api request that needs Postgres is answered 503 `unavailable` with Retry-After (the
 * client may retry), not a 500 (our bug); ingest, which needs no Postgres per request, keeps
 * accepting usage; once Postgres is back the client's retry succeeds, and a grant retried with
 * its Idempotency-Key grants once.
 */
describe('Postgres unreachable from the apps', () => {
  const env: Record<string, string> = {};
  const stack = new BillingStack({ workers: 0, env });
  const upstream = new URL(PG_ADMIN_URL);
  const proxy = new TcpProxy(upstream.hostname, Number(upstream.port || 5432));
  let account: string;

  beforeAll(async () => {
    await proxy.up();
    // The stack's stores are named when it is built; its apps start later, on this environment.
    env.DATABASE_URL = proxy.via(stack.stores.databaseUrl);
    await stack.start();
    await stack.setPrice(MODEL, '2.00', '8.00');
    account = await stack.createAccount();
  });

  afterAll(async () => {
    await stack.stop();
    await proxy.down();
  });

  it('answers api requests 503 unavailable with Retry-After: 1 while ingest keeps accepting, and the retry succeeds', async () => {
    const random = seededRandom(503);
    // Ingest rates from its catalog cache: wait until it has loaded the new account and price.
    await waitFor(
      async () =>
        (await stack.gateway.post('/v1/usage/events', { events: [usageEvent(account, MODEL, random)] }))
          .status,
      (status) => status === 202,
      { what: 'ingest to know the account and its price' },
    );
    const grantKey = randomUUID();

    await proxy.down();

    const read = await stack.admin.get(`/v1/accounts/${account}`);
    expect({ status: read.status, body: read.body, retryAfter: read.headers.get('retry-after') }).toEqual({
      status: 503,
      body: { error: { code: 'unavailable', message: expect.stringContaining('database') } },
      retryAfter: '1',
    });
    const grant = await stack.admin.post(
      `/v1/admin/accounts/${account}/credit-grants`,
      { amount: '10', reason: 'test' },
      { 'idempotency-key': grantKey },
    );
    expect({ status: grant.status, code: grant.body?.error?.code }).toEqual({
      status: 503,
      code: 'unavailable',
    });
    const usage = await stack.gateway.post('/v1/usage/events', {
      events: [usageEvent(account, MODEL, random)],
    });
    expect(usage.status).toBe(202);
    const logged = logLines(stack.api.output).filter((line) => line.context === 'HttpError');
    expect(logged.length).toBeGreaterThanOrEqual(2);
    for (const line of logged) {
      expect(line.level).toBe(50);
      expect(line.msg).toMatch(
        /: transient database failure \((ECONNREFUSED|CONNECTION_\w+) connection_failure\)/,
      );
    }

    await proxy.up();

    const retried = await waitFor(
      () =>
        stack.admin.post(
          `/v1/admin/accounts/${account}/credit-grants`,
          { amount: '10', reason: 'test' },
          { 'idempotency-key': grantKey },
        ),
      (response) => response.status !== 503,
      { what: 'the grant to be retried once Postgres is back' },
    );
    expect(retried.status).toBe(201);
    expect((await stack.admin.get(`/v1/accounts/${account}`)).status).toBe(200);
    const [{ n }] = await stack.stores.sql<{ n: number }[]>`
      select count(*)::int as n from ledger_entries where account_id = ${account} and kind = 'grant'`;
    expect(n).toBe(1);
  });
});
