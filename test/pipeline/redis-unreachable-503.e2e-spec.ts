import { randomUUID } from 'node:crypto';
import { JsonResponse } from '../support/api-client';
import { BillingStack } from '../support/billing-stack';
import { logLines } from '../support/json-logs';
import { TcpProxy } from '../support/tcp-proxy';
import { timedAnswer, UNAVAILABLE } from '../support/timed-answer';
import { waitFor } from '../support/wait-for';

const MODEL = 'openai/gpt-4.1';
/**
 * "Promptly", Redis gone: a command of a fail-fast connection (openRedis) fails at its third failed
 * reconnect attempt, about a second apart (MAX_RECONNECT_DELAY_MS plus jitter) once an outage
 * lasts: 3 to 4 s, with room to spare.
 */
const PROMPT_WHEN_DOWN_MS = 6_000;
/**
 * "Promptly", Redis stalled: a command to a Redis that answers nothing fails at the connection's
 * command timeout (REDIS_COMMAND_TIMEOUT_MS, 3 s by default), or at two when it waited for the
 * connection's automatic pipeline in flight (as behind ingest's catalog poll): 6 s at most, with
 * room to spare. Readiness gives Redis a second.
 */
const PROMPT_WHEN_STALLED_MS = 8_000;

/**
 * The apps reach Redis through a proxy the test takes down (as when Redis's host goes away) or
 * stalls (the connections stay open and nothing answers: a SIGSTOPped or swapping Redis, a path
 * that drops packets, a slow script). Either way every route that needs Redis answers 503
 * `unavailable` with Retry-After: 1 within seconds (the client may retry), never a 500 (our bug)
 * nor a hang; a credit grant refused before its reservation writes nothing (I6), and retried with
 * its key once Redis answers again it grants once. The test's own connections go to Redis directly.
 */
describe('Redis away from the apps', () => {
  const env: Record<string, string> = {};
  const stack = new BillingStack({ workers: 0, env });
  let proxy: TcpProxy;

  beforeAll(async () => {
    const upstream = new URL(stack.stores.redisUrl);
    proxy = await new TcpProxy(upstream.hostname, Number(upstream.port || 6379)).up();
    // The stack's stores are named when it is built; its apps start later, on this environment.
    env.REDIS_URL = proxy.via(stack.stores.redisUrl);
    await stack.start();
    await stack.setPrice(MODEL, '2.00', '8.00');
  });

  afterAll(async () => {
    proxy.resume();
    await stack.stop();
    await proxy.down();
  });

  /** An account with $5 that ingest's catalog cache knows (authorize decides from it). */
  async function knownAccount(): Promise<string> {
    const account = await stack.createAccount();
    await stack.grant(account, '5');
    await waitFor(
      async () => (await stack.gateway.post('/v1/authorize', { account_id: account, model: MODEL })).body,
      (body) => body?.allowed === true,
      { what: 'ingest to know the account and its price' },
    );
    return account;
  }

  /** A $10 grant to `account` under one Idempotency-Key, however often it is sent. */
  function keyedGrant(account: string): () => Promise<JsonResponse> {
    const grantKey = randomUUID();
    return () =>
      stack.admin.post(
        `/v1/admin/accounts/${account}/credit-grants`,
        { amount: '10', reason: 'test' },
        { 'idempotency-key': grantKey },
      );
  }

  async function grantRows(account: string): Promise<number> {
    const [row] = await stack.stores.sql<{ n: number }[]>`
      select count(*)::int as n from ledger_entries where account_id = ${account} and kind = 'grant'`;
    return row.n;
  }

  /** The grant retried once Redis answers again: granted once, the balance $15. */
  async function expectRetriedGrantGrantsOnce(account: string, grant: () => Promise<JsonResponse>) {
    const retried = await waitFor(
      () => grant(),
      (response) => response.status !== 503,
      { what: 'the grant to be retried once Redis answers again' },
    );
    expect({ status: retried.status, body: retried.body }).toEqual({
      status: 201,
      body: { balance: '15.000000' },
    });
    expect(await grantRows(account)).toBe(2);
    expect((await stack.gateway.get(`/v1/accounts/${account}/balance`)).body.balance).toBe('15.000000');
  }

  it('gone: answers 503 unavailable with Retry-After: 1 within seconds, writes nothing, and the retried grant grants once', async () => {
    const account = await knownAccount();
    const grant = keyedGrant(account);
    const timed = (request: Promise<JsonResponse>) => timedAnswer(request, PROMPT_WHEN_DOWN_MS);
    const apiOutputBefore = stack.api.output.length;
    const ingestOutputBefore = stack.ingest.output.length;

    await proxy.down();

    expect({
      authorize: await timed(stack.gateway.post('/v1/authorize', { account_id: account, model: MODEL })),
      balance: await timed(stack.gateway.get(`/v1/accounts/${account}/balance`)),
      grant: await timed(grant()),
      reconcile: await timed(stack.admin.post('/v1/admin/reconcile')),
    }).toEqual({ authorize: UNAVAILABLE, balance: UNAVAILABLE, grant: UNAVAILABLE, reconcile: UNAVAILABLE });
    expect(await grantRows(account)).toBe(1);
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

    await expectRetriedGrantGrantsOnce(account, grant);
  });

  it('stalled: answers 503 unavailable within seconds, says Redis is down, and the retried grant grants once', async () => {
    const account = await knownAccount();
    const grant = keyedGrant(account);
    const timed = (request: Promise<JsonResponse>) => timedAnswer(request, PROMPT_WHEN_STALLED_MS);

    proxy.stall();

    const [authorize, balance, granted, ingestReady, apiReady] = await Promise.all([
      timed(stack.gateway.post('/v1/authorize', { account_id: account, model: MODEL })),
      timed(stack.gateway.get(`/v1/accounts/${account}/balance`)),
      timed(grant()),
      timed(stack.gateway.get('/health/ready')),
      timed(stack.admin.get('/health/ready')),
    ]);
    const redisDown = {
      status: 503,
      code: 'not_ready',
      retryAfter: null,
      prompt: true,
      checks: { redis: 'down', postgres: 'ok' },
    };
    expect({ authorize, balance, granted, ingestReady, apiReady }).toEqual({
      authorize: UNAVAILABLE,
      balance: UNAVAILABLE,
      granted: UNAVAILABLE,
      ingestReady: redisDown,
      apiReady: redisDown,
    });

    // What the apps sent meanwhile (the grant's reservation among it) reaches Redis now.
    proxy.resume();

    await expectRetriedGrantGrantsOnce(account, grant);
    expect((await stack.gateway.get('/health/ready')).status).toBe(200);
  });
});
