import { budgetCounterField } from '@app/alerts';
import { RedisKeys } from '@app/redis';
import { randomUUID } from 'node:crypto';
import { AppProcess } from '../support/app-process';
import { BillingStack } from '../support/billing-stack';
import { Workspace } from '../support/workspace';

/** 950 USD per million prompt tokens: an event of 10 prompt tokens costs 9,500 micros. */
const MODEL = 'test/budget-crash-model';

/**
 * Budget counters across a worker killed after its batch committed and before it settled Redis:
 * the batch that finishes the job reads what the dead attempt committed from its ledger row and
 * settles every budget counter (account, API key, project) at the spend Postgres kept, leaving
 * out the batch's duplicates; alerts are raised once, and only for thresholds that spend reached.
 */
describe('budget counters when a worker dies between commit and settle', () => {
  const stack = new BillingStack({ workers: 0 });
  const workerEnv = () => stack.stores.env({ USAGE_LOCK_DURATION_MS: '2000', RECONCILE_INTERVAL_MS: '0' });

  beforeAll(async () => {
    await stack.start();
    await stack.setPrice(MODEL, '950', '0');
  }, 120_000);

  afterAll(() => stack.stop());

  it('settles each counter at the committed spend and alerts only on thresholds it reached', async () => {
    const ws = await Workspace.create(stack);
    await stack.grant(ws.accountId, '100.00');
    const key = await ws.createKey();
    const projectId = await ws.createProject();
    const paths = [
      `${ws.path}/budget`,
      `${ws.path}/api-keys/${key.id}/budget`,
      `${ws.path}/projects/${projectId}/budget`,
    ];
    for (const path of paths) expect((await stack.admin.put(path, { amount: '10.00' })).status).toBe(200);
    const events = (count: number) =>
      Array.from({ length: count }, () => ({
        id: randomUUID(),
        account_id: ws.accountId,
        model: MODEL,
        prompt_tokens: 10,
        completion_tokens: 0,
        api_key_id: key.id,
        project_id: projectId,
      }));
    const keys = new RedisKeys(stack.stores.prefix);
    const period = new Date().toISOString().slice(0, 7);
    const counters = () =>
      stack.stores.redis.hmget(
        keys.balance(ws.accountId),
        budgetCounterField('account', null, period),
        budgetCounterField('api_key', key.id, period),
        budgetCounterField('project', projectId, period),
      );
    const alerts = () =>
      stack.stores.sql<{ scope: string; percent: number; spend: string }[]>`
        select details->>'scope' as scope, (details->>'threshold_percent')::int as percent, details->>'spend' as spend
        from alerts where account_id = ${ws.accountId} and kind = 'budget_threshold' order by 1, 2`;

    const first = new AppProcess('usage-worker', workerEnv());
    stack.workers.push(first);
    await first.start();
    const earlier = events(400); // $3.80
    expect((await stack.gateway.post('/v1/usage/events', { events: earlier })).status).toBe(202);
    await stack.drained();
    await first.stop();
    stack.workers.length = 0;

    // Resent after ingest forgot the 400 ids, with 500 new events: $9.50 in Redis, $8.55 in
    // Postgres, so 50 % and 75 % are reached and 90 % is not.
    await stack.stores.redis.del(...earlier.map((event) => keys.acceptedEvent(ws.accountId, event.id)));
    const doomed = new AppProcess('usage-worker', workerEnv());
    await doomed.start({ FAILPOINT: 'after-commit' });
    const resent = { events: [...earlier.slice(0, 100), ...events(500)] };
    expect((await stack.gateway.post('/v1/usage/events', resent)).body).toEqual({
      accepted: 600,
      duplicates: 0,
    });
    expect(await doomed.waitForExit()).toBeNull();
    expect(await counters()).toEqual(['9500000', '9500000', '9500000']);

    const survivor = new AppProcess('usage-worker', workerEnv());
    stack.workers.push(survivor);
    await survivor.start();
    await stack.drained();

    expect(await counters()).toEqual(['8550000', '8550000', '8550000']);
    expect(await stack.stores.redisBalance(ws.accountId)).toBe(100_000_000n - 8_550_000n);
    const reached = ['account', 'api_key', 'project'].flatMap((scope) => [
      { scope, percent: 50, spend: '8.550000' },
      { scope, percent: 75, spend: '8.550000' },
    ]);
    expect(await alerts()).toEqual(reached);

    // $0.50 more reaches 90 % for real: one more alert per budget, none repeated.
    expect((await stack.gateway.post('/v1/usage/events', { events: events(53) })).status).toBe(202);
    await stack.drained();
    const ninety = ['account', 'api_key', 'project'].map((scope) => ({
      scope,
      percent: 90,
      spend: '9.053500',
    }));
    expect(await alerts()).toEqual(
      [...reached, ...ninety].sort((a, b) => (a.scope + a.percent).localeCompare(b.scope + b.percent)),
    );
  }, 120_000);
});
