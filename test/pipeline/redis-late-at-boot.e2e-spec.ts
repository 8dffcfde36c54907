import { AppProcess, freePort } from '../support/app-process';
import { BillingStack } from '../support/billing-stack';
import { OwnRedisServer } from '../support/redis-server';
import { waitFor } from '../support/wait-for';

const MODEL = 'acme/late-redis';
/** Longer than the 1-3 s after which an app used to crash on its first Redis command. */
const REDIS_LATE_BY_MS = 6_000;

function linesWith(app: AppProcess, text: string): string[] {
  return app.output.split('\n').filter((line) => line.includes(text));
}

/**
 * A machine boots and the apps start before Redis does: they wait for it, say so once, and come
 * up once it answers, rather than crash on the first command and depend on a supervisor's restarts.
 */
describe('apps started before Redis', () => {
  const redisServer = new OwnRedisServer();
  let stack: BillingStack;

  afterAll(async () => {
    await stack?.stop();
    await redisServer.kill();
  });

  it('wait for it, come up once it answers and meter usage end to end', async () => {
    // Its address is known, nothing listens there yet.
    redisServer.port = await freePort();
    // info: "connected" is an info line.
    stack = new BillingStack({ redisUrl: redisServer.url, env: { LOG_LEVEL: 'info' } });
    const starting = stack.start();
    const apps = () => [stack.ingest, stack.api, ...stack.workers];
    // An app that exits meanwhile makes `starting` reject, and the race with it.
    await Promise.race([
      starting,
      waitFor(
        () => apps().every((app) => app && linesWith(app, 'waiting for Redis at').length > 0),
        Boolean,
        { what: 'every app to say it waits for Redis', timeoutMs: 60_000 },
      ),
    ]);
    await new Promise((resolve) => setTimeout(resolve, REDIS_LATE_BY_MS));
    expect(apps().filter((app) => !app.running)).toEqual([]);

    await redisServer.start();
    await starting;
    for (const app of apps()) {
      expect(linesWith(app, 'waiting for Redis at')).toHaveLength(1);
      expect(linesWith(app, 'connected to Redis at')).toHaveLength(1);
    }

    await stack.setPrice(MODEL, '2.00', '4.00');
    const account = await stack.createAccount();
    await stack.grant(account, '1');
    const sent = await stack.gateway.post('/v1/usage/events', {
      events: [
        { id: 'late-1', account_id: account, model: MODEL, prompt_tokens: 1000, completion_tokens: 500 },
      ],
    });
    expect(sent.body).toEqual({ accepted: 1, duplicates: 0 });
    // 1,000 × $2 + 500 × $4 per million tokens = $0.004.
    await waitFor(
      async () => (await stack.gateway.get(`/v1/accounts/${account}/balance`)).body.balance,
      (balance) => balance === '0.996000',
      { what: 'the worker to charge the event' },
    );
    // Redis shows the deduction before the batch's transaction commits.
    await stack.drained();
    const [stored] = await stack.stores.sql<{ n: number }[]>`
      select count(*)::int as n from usage_events where account_id = ${account}`;
    expect(stored.n).toBe(1);
  });
});
