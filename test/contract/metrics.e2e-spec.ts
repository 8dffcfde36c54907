import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseUsd } from '@app/money';
import { RedisKeys } from '@app/redis';
import { BillingStack } from '../support/billing-stack';
import { seededRandom, TestEvent, usageEvent } from '../support/usage-events';

/** C5: every app's /metrics passes `promtool check metrics` and shows the pipeline's numbers. */
describe('Prometheus metrics', () => {
  const stack = new BillingStack({ workers: 1 });
  let account: string;
  let events: TestEvent[];

  beforeAll(async () => {
    await stack.start();
    await stack.setPrice('openai/gpt-4o-mini', '0.15', '0.60');
    account = await stack.createAccount();
    await stack.grant(account, '10');
    const random = seededRandom(3);
    events = Array.from({ length: 50 }, () => usageEvent(account, 'openai/gpt-4o-mini', random));
    await stack.gateway.post('/v1/usage/events', { events: [...events, events[0]] });
    await stack.gateway.post('/v1/usage/events', { events: [{ ...events[1], model: 'no/such-model' }] });
    await stack.drained();
    await stack.admin.post('/v1/admin/reconcile');
  });

  afterAll(() => stack.stop());

  const scrape = async (url: string) => (await fetch(`${url}/metrics`)).text();
  /** A counter on one app's /metrics (0 until first counted); `labels` go before `app`, e.g. 'kind="balance",'. */
  const counter = async (url: string, name: string, labels = '') =>
    Number(new RegExp(`^${name}\\{${labels}app="[\\w-]+"\\} (\\d+)$`, 'm').exec(await scrape(url))?.[1] ?? 0);

  it.each(['ingest', 'api', 'usage-worker'])('serves %s metrics that promtool accepts', async (app) => {
    const process = app === 'ingest' ? stack.ingest : app === 'api' ? stack.api : stack.workers[0];
    const text = await scrape(process.url);
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(check.error).toBeUndefined();
    expect({ status: check.status, output: `${check.stdout}${check.stderr}` }).toEqual({
      status: 0,
      output: '',
    });
  });

  it('counts accepted, duplicate and rejected events at ingest', async () => {
    const text = await scrape(stack.ingest.url);
    expect(text).toMatch(/billing_usage_events_total\{outcome="accepted",app="ingest"\} 50\n/);
    expect(text).toMatch(/billing_usage_events_total\{outcome="duplicate",app="ingest"\} 1\n/);
    expect(text).toMatch(/billing_usage_events_total\{outcome="rejected",app="ingest"\} 1\n/);
  });

  it('shows persisted events, batch sizes, latencies, queue depth and lag from the worker', async () => {
    const text = await scrape(stack.workers[0].url);
    expect(text).toMatch(/billing_usage_events_persisted_total\{app="usage-worker"\} 50\n/);
    expect(text).toMatch(/billing_usage_batch_events_count\{app="usage-worker"\} 1\n/);
    expect(text).toMatch(/billing_usage_deduct_duration_seconds_count\{app="usage-worker"\} 1\n/);
    expect(text).toMatch(/billing_usage_persist_duration_seconds_count\{app="usage-worker"\} 1\n/);
    expect(text).toMatch(/billing_usage_accepted_to_persisted_seconds_count\{app="usage-worker"\} 1\n/);
    expect(text).toMatch(/billing_queue_jobs\{queue="usage-events",state="waiting",app="usage-worker"\} 0\n/);
  });

  it('times HTTP requests per route template, early refusals included, never per account', async () => {
    const requests = async (url: string, route: string, method: string, status: number) => {
      const series = `billing_http_request_duration_seconds_count{app="[\\w-]+",route="${route}",method="${method}",status="${status}"}`;
      return Number(new RegExp(`^${series} (\\d+)$`, 'm').exec(await scrape(url))?.[1] ?? 0);
    };
    const balanceRoute = '/v1/accounts/:id/balance';
    const before = {
      balance: await requests(stack.ingest.url, balanceRoute, 'GET', 200),
      unauthorized: await requests(stack.ingest.url, balanceRoute, 'GET', 401),
      authorize: await requests(stack.ingest.url, '/v1/authorize', 'POST', 200),
      unmatched: await requests(stack.ingest.url, 'unmatched', 'GET', 404),
      grants: await requests(stack.api.url, '/v1/admin/accounts/:id/credit-grants', 'POST', 201),
    };

    for (let i = 0; i < 3; i++)
      expect((await stack.gateway.get(`/v1/accounts/${account}/balance`)).status).toBe(200);
    // Refused by the token check before Nest routes the request: still timed under its route.
    expect((await stack.gateway.as('wrong-token').get(`/v1/accounts/${account}/balance`)).status).toBe(401);
    const authorize = { account_id: account, model: 'openai/gpt-4o-mini' };
    for (let i = 0; i < 2; i++)
      expect((await stack.gateway.post('/v1/authorize', authorize)).status).toBe(200);
    expect((await stack.gateway.get('/v1/no-such-route')).status).toBe(404);
    await stack.grant(account, '1');

    expect({
      balance: await requests(stack.ingest.url, balanceRoute, 'GET', 200),
      unauthorized: await requests(stack.ingest.url, balanceRoute, 'GET', 401),
      authorize: await requests(stack.ingest.url, '/v1/authorize', 'POST', 200),
      unmatched: await requests(stack.ingest.url, 'unmatched', 'GET', 404),
      grants: await requests(stack.api.url, '/v1/admin/accounts/:id/credit-grants', 'POST', 201),
    }).toEqual({
      balance: before.balance + 3,
      unauthorized: before.unauthorized + 1,
      authorize: before.authorize + 2,
      unmatched: before.unmatched + 1,
      grants: before.grants + 1,
    });
    // One series per route: an account id in a label would make one per account.
    for (const app of [stack.ingest, stack.api]) expect(await scrape(app.url)).not.toContain(account);
  });

  it('exports the drift found by the last reconciliation, with the time of that pass', async () => {
    const text = await scrape(stack.api.url);
    expect(text).toMatch(/billing_balance_drift_micros\{app="api"\} 0\n/);
    expect(text).toMatch(/billing_reconcile_runs_total\{app="api"\} 1\n/);
    const passedAt = /^billing_reconcile_last_pass_timestamp_seconds\{app="api"\} (\S+)$/m.exec(text)?.[1];
    expect(Number(passedAt)).toBeGreaterThan(Date.now() / 1000 - 600);
    // The worker ran no pass (RECONCILE_INTERVAL_MS=0): alerts read the api's drift, not its zero.
    expect(await scrape(stack.workers[0].url)).toMatch(
      /billing_reconcile_last_pass_timestamp_seconds\{app="usage-worker"\} 0\n/,
    );
  });

  it('has alert rules that promtool accepts, and rules and dashboard on series the apps export', async () => {
    const rulesFile = join(__dirname, '..', '..', 'ops', 'prometheus', 'alerts.yml');
    const check = spawnSync('promtool', ['check', 'rules', rulesFile], { encoding: 'utf8' });
    expect({ status: check.status, stderr: check.stderr }).toEqual({ status: 0, stderr: '' });
    // The rules' own unit tests (alerts.test.yml): e.g. drift alerts follow the latest pass.
    const ruleTests = spawnSync('promtool', ['test', 'rules', rulesFile.replace(/\.yml$/, '.test.yml')], {
      encoding: 'utf8',
    });
    expect({ status: ruleTests.status, output: `${ruleTests.stdout}${ruleTests.stderr}` }).toEqual({
      status: 0,
      output: expect.stringContaining('SUCCESS'),
    });

    // Every app declares every billing metric (one registry), so a name no app declares is a typo
    // that would make an alert silently never fire or a panel stay empty.
    const declared = (
      await Promise.all([stack.ingest, stack.api, stack.workers[0]].map((process) => scrape(process.url)))
    ).join('\n');
    const dashboard = join(__dirname, '..', '..', 'ops', 'grafana', 'dashboards', 'billing.json');
    const queries = readFileSync(rulesFile, 'utf8') + readFileSync(dashboard, 'utf8');
    const names = new Set(
      [...queries.matchAll(/\b(billing_\w+)/g)].map(([, name]) => name.replace(/_(bucket|count|sum)$/, '')),
    );
    expect(names.size).toBeGreaterThan(10);
    expect([...names].filter((name) => !new RegExp(`^# TYPE ${name} `, 'm').test(declared))).toEqual([]);
  });

  it('counts events Postgres already held when a gateway resends them after the dedupe window', async () => {
    const metric = (name: string) => counter(stack.workers[0].url, name);
    const balanceBefore = (await stack.gateway.get(`/v1/accounts/${account}/balance`)).body.balance;
    const resent = events.slice(0, 10);
    const random = seededRandom(4);
    const fresh = Array.from({ length: 5 }, () => usageEvent(account, 'openai/gpt-4o-mini', random));
    // Ingest has forgotten the ten ids (their markers expired): only Postgres knows they are stored.
    const keys = new RedisKeys(stack.stores.prefix);
    await stack.stores.redis.del(...resent.map((event) => keys.acceptedEvent(account, event.id)));

    const response = await stack.gateway.post('/v1/usage/events', { events: [...resent, ...fresh] });
    expect(response.body).toEqual({ accepted: 15, duplicates: 0 });
    await stack.drained();

    expect(await metric('billing_usage_events_already_stored_total')).toBe(10);
    expect(await metric('billing_usage_events_persisted_total')).toBe(55);
    // Charged for the five new events only.
    const [{ charged }] = await stack.stores.sql<{ charged: bigint }[]>`
      select coalesce(sum(cost_micros), 0)::bigint as charged from usage_events
      where account_id = ${account} and event_id = any(${fresh.map((event) => event.id)}::text[])`;
    const balanceAfter = (await stack.gateway.get(`/v1/accounts/${account}/balance`)).body.balance;
    expect(parseUsd(balanceAfter)).toBe(parseUsd(balanceBefore) - charged);
  });

  it('counts the state read from Postgres because Redis did not hold it, by kind', async () => {
    const loaded = (url: string, kind: string) =>
      counter(url, 'billing_redis_state_loaded_total', `kind="${kind}",`);
    const balanceKey = new RedisKeys(stack.stores.prefix).balance(account);
    const balance = async () => (await stack.gateway.get(`/v1/accounts/${account}/balance`)).body.balance;
    const before = await balance();
    // The account's first grant, batch and reads found the balance its creation put in Redis.
    for (const app of [stack.api, stack.ingest, stack.workers[0]])
      expect(await loaded(app.url, 'balance')).toBe(0);

    // Redis lost the balance: the next read loads it from Postgres.
    await stack.stores.redis.del(balanceKey);
    expect(await balance()).toBe(before);
    expect(await loaded(stack.ingest.url, 'balance')).toBe(1);

    // Lost again, and the account now has a budget: the next batch loads both the balance and
    // the month's budget counter (a field of the same hash); the batch after it finds them.
    await stack.stores.redis.del(balanceKey);
    expect((await stack.admin.put(`/v1/accounts/${account}/budget`, { amount: '100.00' })).status).toBe(200);
    const random = seededRandom(5);
    for (const count of [2, 1]) {
      const fresh = Array.from({ length: count }, () => usageEvent(account, 'openai/gpt-4o-mini', random));
      expect((await stack.gateway.post('/v1/usage/events', { events: fresh })).status).toBe(202);
      await stack.drained();
      expect(await loaded(stack.workers[0].url, 'balance')).toBe(1);
      expect(await loaded(stack.workers[0].url, 'budget_counter')).toBe(1);
    }
    expect(await loaded(stack.workers[0].url, 'key_spend')).toBe(0);
    // Loaded exactly: Redis shows what Postgres holds.
    const [{ held }] = await stack.stores.sql<{ held: bigint }[]>`
      select sum(balance_micros)::bigint as held from account_balances where account_id = ${account}`;
    expect(parseUsd(await balance())).toBe(held);
  });
});
