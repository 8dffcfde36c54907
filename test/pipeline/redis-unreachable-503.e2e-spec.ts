import { randomUUID } from 'node:crypto';
import { BillingStack } from '../support/billing-stack';
import { JsonResponse } from '../support/api-client';
import { TcpProxy } from '../support/tcp-proxy';
import { timedAnswer, UNAVAILABLE } from '../support/timed-answer';
import { waitFor } from '../support/wait-for';
import { logLines } from '../support/json-logs';

const MODEL = 'openai/gpt-4.1';
/**
 * "Promptly": a Redis that is away must not hold a request until the client gives up. A command of
 * a fail-fast connection (openRedis) fails at its third failed reconnect attempt, about a second
 * apart (MAX_RECONNECT_DELAY_MS plus jitter) once an outage lasts: 3 to 4 s, with room to spare.
 */
const PROMPT_MS = 6_000;

const timed = (request: Promise<JsonResponse>) => timedAnswer(request, PROMPT_MS);

/**
 * The apps reach Redis through a proxy that the test takes down, as when Redis's host goes away:
 * every route that needs Redis (authorize, balance, credit grants...) answers at once 503
 * `unavailable` with Retry-After: 1 (the client may retry), never a 500 (our bug) nor a hang, and
 * a refused credit grant writes nothing (I6). Once Redis is back the retried grant grants once.
 */
describe('Redis unreachable from the apps', () => {
  const env: Record<string, string> = {};
  const stack = new BillingStack({ workers: 0, env });
  let proxy: TcpProxy;
  let account: string;

  beforeAll(async () => {
    const upstream = new URL(stack.stores.redisUrl);
    proxy = await new TcpProxy(upstream.hostname, Number(upstream.port || 6379)).up();
    // The stack's stores are named when it is built; its apps start later, on this environment.
    // The test's own connections (stack.stores) go to Redis directly.
    env.REDIS_URL = proxy.via(stack.stores.redisUrl);
    await stack.start();
    await stack.setPrice(MODEL, '2.00', '8.00');
    account = await stack.createAccount();
    await stack.grant(account, '5');
  });

  afterAll(async () => {
    await stack.stop();
    await proxy.down();
  });

  it('answers 503 unavailable with Retry-After: 1 within seconds, writes nothing, and the retried grant grants once', async () => {
    // Authorize decides from ingest's catalog cache: wait until it knows the new account and price.
    await waitFor(
      async () => (await stack.gateway.post('/v1/authorize', { account_id: account, model: MODEL })).body,
      (body) => body?.allowed === true,
      { what: 'ingest to know the account and its price' },
    );
    const grantKey = randomUUID();
    const grant = () =>
      stack.admin.post(
        `/v1/admin/accounts/${account}/credit-grants`,
        { amount: '10', reason: 'test' },
        { 'idempotency-key': grantKey },
      );
    const apiOutputBefore = stack.api.output.length;
    const ingestOutputBefore = stack.ingest.output.length;

    await proxy.down();

    expect({
      authorize: await timed(stack.gateway.post('/v1/authorize', { account_id: account, model: MODEL })),
      balance: await timed(stack.gateway.get(`/v1/accounts/${account}/balance`)),
      grant: await timed(grant()),
      reconcile: await timed(stack.admin.post('/v1/admin/reconcile')),
    }).toEqual({ authorize: UNAVAILABLE, balance: UNAVAILABLE, grant: UNAVAILABLE, reconcile: UNAVAILABLE });
    const grants = await stack.stores.sql<{ n: number }[]>`
      select count(*)::int as n from ledger_entries where account_id = ${account} and kind = 'grant'`;
    expect(grants[0].n).toBe(1);
    const audited = await stack.stores.sql<{ n: number }[]>`
      select count(*)::int as n from audit_log where account_id = ${account} and action = 'credits.granted'`;
    expect(audited[0].n).toBe(1);
    // Logged at error level, as a transient database failure is: ops see which requests failed.
    for (const output of [
      stack.api.output.slice(apiOutputBefore),
      stack.ingest.output.slice(ingestOutputBefore),
    ]) {
      const logged = logLines(output).filter((line) => line.context === 'HttpError');
      expect(logged.length).toBeGreaterThanOrEqual(2);
      for (const line of logged) {
        expect(line.level).toBe(50);
        expect(line.msg).toMatch(/: Redis unreachable, answered 503 with Retry-After: 1: /);
      }
    }

    await proxy.up();

    const retried = await waitFor(
      () => grant(),
      (response) => response.status !== 503,
      { what: 'the grant to be retried once Redis is back' },
    );
    expect({ status: retried.status, body: retried.body }).toEqual({
      status: 201,
      body: { balance: '15.000000' },
    });
    expect((await stack.gateway.get(`/v1/accounts/${account}/balance`)).body.balance).toBe('15.000000');
  });
});
