import { randomUUID } from 'node:crypto';
import { JsonResponse } from '../support/api-client';
import { BillingStack } from '../support/billing-stack';
import { TcpProxy } from '../support/tcp-proxy';
import { timedAnswer, UNAVAILABLE } from '../support/timed-answer';
import { waitFor } from '../support/wait-for';

const MODEL = 'openai/gpt-4.1';
/**
 * "Promptly": a command of a fail-fast connection (openRedis) to a Redis that answers nothing
 * fails at the connection's command timeout (REDIS_COMMAND_TIMEOUT_MS, 3 s by default), or at two
 * when it waited for the connection's automatic pipeline in flight (as behind ingest's catalog
 * poll): 6 s at most, with room to spare. Readiness gives Redis a second.
 */
const PROMPT_MS = 8_000;
const timed = (request: Promise<JsonResponse>) => timedAnswer(request, PROMPT_MS);

/**
 * The apps reach Redis through a proxy that the test stalls: the connections stay open and
 * nothing answers, as with a SIGSTOPped or swapping Redis, a network path that drops packets or a
 * Redis busy with a slow script. Every route that needs Redis answers 503 `unavailable` within
 * seconds instead of hanging until the client gives up, and /health/ready says Redis is down.
 * What the apps sent meanwhile reaches Redis once it answers again (a credit grant's reservation
 * among it): the grant retried with its key then grants once.
 */
describe('Redis stalled under the apps', () => {
  const env: Record<string, string> = {};
  const stack = new BillingStack({ workers: 0, env });
  let proxy: TcpProxy;
  let account: string;

  beforeAll(async () => {
    const upstream = new URL(stack.stores.redisUrl);
    proxy = await new TcpProxy(upstream.hostname, Number(upstream.port || 6379)).up();
    // The stack's stores are named when it is built; its apps start later, on this environment.
    env.REDIS_URL = proxy.via(stack.stores.redisUrl);
    await stack.start();
    await stack.setPrice(MODEL, '2.00', '8.00');
    account = await stack.createAccount();
    await stack.grant(account, '5');
  });

  afterAll(async () => {
    proxy.resume();
    await stack.stop();
    await proxy.down();
  });

  it('answers 503 unavailable within seconds, says Redis is down, and the retried grant grants once', async () => {
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

    proxy.resume();

    const retried = await waitFor(
      () => grant(),
      (response) => response.status !== 503,
      { what: 'the grant to be retried once Redis answers again' },
    );
    expect({ status: retried.status, body: retried.body }).toEqual({
      status: 201,
      body: { balance: '15.000000' },
    });
    const grants = await stack.stores.sql<{ n: number }[]>`
      select count(*)::int as n from ledger_entries where account_id = ${account} and kind = 'grant'`;
    expect(grants[0].n).toBe(2);
    expect((await stack.gateway.get(`/v1/accounts/${account}/balance`)).body.balance).toBe('15.000000');
    expect((await stack.gateway.get('/health/ready')).status).toBe(200);
  });
});
