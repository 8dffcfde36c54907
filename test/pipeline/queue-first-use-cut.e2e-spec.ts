import { randomUUID } from 'node:crypto';
import { isReadyBody } from '../support/app-process';
import { BillingStack } from '../support/billing-stack';
import { TcpProxy } from '../support/tcp-proxy';
import { waitFor } from '../support/wait-for';

/** INFO as ioredis sends it, first thing on a new connection: its ready check. */
const INFO = Buffer.from('*1\r\n$4\r\ninfo\r\n');

/**
 * The api opens its invoice queue (and that queue's connection) at the first export request. Redis
 * going away just as that connection became ready, with BullMQ's version check (an INFO) unanswered,
 * left the queue broken for good: every later export request was answered 503 though
 * Redis was back, until the api restarted. Once Redis is back, the request must succeed by itself.
 */
describe('a queue whose first connection is cut before its version check', () => {
  const env: Record<string, string> = {};
  const stack = new BillingStack({ workers: 0, env });
  const upstream = new URL(stack.stores.redisUrl);
  const proxy = new TcpProxy(upstream.hostname, Number(upstream.port || 6379));
  let account: string;

  beforeAll(async () => {
    await proxy.up();
    // The stack's stores are named when it is built; its apps start later, on this environment.
    env.REDIS_URL = proxy.via(stack.stores.redisUrl);
    await stack.start();
    account = await stack.createAccount('enterprise');
  });

  afterAll(async () => {
    await stack.stop();
    await proxy.down();
  });

  it('answers the export request 503 during the cut and 202 once Redis is back, without a restart', async () => {
    const path = `/v1/accounts/${account}/invoice-exports`;
    const dates = { from: '2026-11-01', to: '2026-11-30' };
    const key = randomUUID();
    // Redis goes away as the queue's new connection becomes ready: its first commands are lost.
    const cut = proxy.downAfter(INFO);

    const during = await stack.admin.post(path, dates, { 'idempotency-key': key });
    expect({ status: during.status, code: during.body?.error?.code }).toEqual({
      status: 503,
      code: 'unavailable',
    });
    await cut;

    await proxy.up();
    // The api's Redis is back (its readiness check reaches it): what still fails is the queue.
    await waitFor(
      async () => isReadyBody(await (await fetch(`${stack.api.url}/health/ready`)).text()),
      Boolean,
      { what: 'the api to reach Redis again' },
    );

    const retried = await waitFor(
      () => stack.admin.post(path, dates, { 'idempotency-key': key }),
      (response) => response.status !== 503,
      { what: 'the export request to succeed once Redis is back', timeoutMs: 15_000 },
    );
    expect({ status: retried.status, body: retried.body }).toEqual({
      status: 202,
      body: expect.objectContaining({ status: 'pending', ...dates }),
    });
  });
});
