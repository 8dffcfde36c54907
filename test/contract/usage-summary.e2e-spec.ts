import { formatUsd, parseUsd } from '@app/money';
import { randomUUID } from 'node:crypto';
import { ApiClient } from '../support/api-client';
import { AppProcess } from '../support/app-process';
import { BillingStack } from '../support/billing-stack';
import { expectNothingReachedStores, takeSnapshot } from '../support/store-snapshot';
import { TEST_ADMIN_TOKEN } from '../support/test-stores';
import { expectedCostMicros, seededRandom, TestEvent } from '../support/usage-events';
import { Workspace } from '../support/workspace';

const PAID = 'anthropic/claude-sonnet';
const FREE = 'meta-llama/llama-3.1-8b-instruct:free';
/** USD per million tokens as micros: prompt $3, completion $15, cached $0.30, reasoning as completion. */
const PAID_PRICES = { prompt: 3_000_000n, completion: 15_000_000n, cached: 300_000n, reasoning: 15_000_000n };
const FREE_PRICES = { prompt: 0n, completion: 0n, cached: 0n, reasoning: 0n };
const DAY_MS = 24 * 3600 * 1000;

interface SentEvent extends TestEvent {
  api_key_id?: string;
  project_id?: string;
  occurred_at: string;
}

interface Group {
  requests: number;
  prompt_tokens: number;
  completion_tokens: number;
  cached_tokens: number;
  reasoning_tokens: number;
  costMicros: bigint;
}

/** The expected rows, summed by the test from what it sent: key → sums. */
function sumBy(events: SentEvent[], keyOf: (event: SentEvent) => string): Map<string, Group> {
  const groups = new Map<string, Group>();
  for (const event of events) {
    const key = keyOf(event);
    const group = groups.get(key) ?? {
      requests: 0,
      prompt_tokens: 0,
      completion_tokens: 0,
      cached_tokens: 0,
      reasoning_tokens: 0,
      costMicros: 0n,
    };
    group.requests += 1;
    group.prompt_tokens += event.prompt_tokens;
    group.completion_tokens += event.completion_tokens;
    group.cached_tokens += event.cached_tokens ?? 0;
    group.reasoning_tokens += event.reasoning_tokens ?? 0;
    group.costMicros += expectedCostMicros(event, event.model === PAID ? PAID_PRICES : FREE_PRICES);
    groups.set(key, group);
  }
  return groups;
}

function sums(group: Group) {
  const { costMicros, ...tokens } = group;
  return { ...tokens, cost: formatUsd(costMicros) };
}

/**
 * F13's spend breakdown: an account's usage summed by day, model, API key and project, agreeing to
 * the micro with the events a gateway sent (each counted once) and with what its balance lost.
 */
describe('GET /v1/accounts/:id/usage/summary', () => {
  const stack = new BillingStack({ workers: 1 });
  let ws: Workspace;
  /** Two API keys of the workspace: id → name. */
  const keyNames = new Map<string, string>();
  let projectId: string;
  let events: SentEvent[];
  const now = Date.now();
  /** The three days the events fall on, oldest first (UTC dates). */
  const days = [2, 1, 0].map((back) => new Date(now - back * DAY_MS).toISOString().slice(0, 10));

  beforeAll(async () => {
    await stack.start();
    await stack.setPrice(PAID, '3.00', '15.00', { cached_price_per_mtok: '0.30' });
    await stack.setPrice(FREE, '0', '0');
    ws = await Workspace.create(stack);
    await stack.grant(ws.accountId, '100.00');
    for (const name of ['prod gateway', 'batch jobs']) keyNames.set((await ws.createKey({ name })).id, name);
    const keyIds = [...keyNames.keys()];
    projectId = await ws.createProject('chatbot');

    const random = seededRandom(13);
    events = Array.from({ length: 120 }, (_, i) => {
      const prompt = 1 + Math.floor(random() * 5000);
      const completion = Math.floor(random() * 2000);
      return {
        id: `sum-${i}-${randomUUID().slice(0, 8)}`,
        account_id: ws.accountId,
        model: i % 4 === 3 ? FREE : PAID,
        prompt_tokens: prompt,
        completion_tokens: completion,
        cached_tokens: Math.floor(random() * prompt),
        reasoning_tokens: Math.floor(random() * completion),
        ...(i % 3 === 0 ? {} : { api_key_id: keyIds[(i % 3) - 1] }),
        ...(i % 2 === 0 ? { project_id: projectId } : {}),
        // Noon of the two days before; today, a minute ago (but today, even just after midnight).
        occurred_at: new Date(
          i % 3 === 2
            ? Math.max(now - 60_000, Date.parse(`${days[2]}T00:00:00Z`))
            : Date.parse(`${days[i % 3]}T12:00:00Z`),
        ).toISOString(),
      };
    });
    for (const batch of [events.slice(0, 70), events.slice(50)]) {
      // The second request repeats 20 events of the first, as a gateway retrying would.
      const sent = await stack.gateway.post('/v1/usage/events', { events: batch });
      expect({ status: sent.status, body: sent.body }).toEqual({ status: 202, body: expect.anything() });
    }
    await stack.drained();
  });

  afterAll(() => stack.stop());

  const summary = (query: string) => stack.admin.get(`${ws.path}/usage/summary${query}`);

  it('sums per day by default, each event once, with totals equal to what the balance lost', async () => {
    const response = await summary('');
    expect(response.status).toBe(200);
    const expected = sumBy(events, (event) => event.occurred_at.slice(0, 10));
    expect(response.body.group_by).toEqual(['day']);
    expect(response.body.data).toEqual(days.map((day) => ({ day, ...sums(expected.get(day)!) })));

    const all = sumBy(events, () => 'all').get('all')!;
    expect(response.body.totals).toEqual(sums(all));
    const balance = await stack.gateway.get(`/v1/accounts/${ws.accountId}/balance`);
    expect(parseUsd('100.00') - parseUsd(balance.body.balance)).toBe(all.costMicros);
    expect(all.requests).toBe(120);
  });

  it('sums per model, biggest cost first, free models at zero', async () => {
    const response = await summary('?group_by=model');
    const expected = sumBy(events, (event) => event.model);
    expect(response.body.data).toEqual([
      { model: PAID, ...sums(expected.get(PAID)!) },
      { model: FREE, ...sums(expected.get(FREE)!), cost: '0.000000' },
    ]);
  });

  it('sums per API key and project with their names, null for events without', async () => {
    const response = await summary('?group_by=project,api_key');
    expect(response.status).toBe(200);
    expect(response.body.group_by).toEqual(['api_key', 'project']);
    const expected = sumBy(events, (event) => `${event.api_key_id ?? ''}|${event.project_id ?? ''}`);
    const rows = [...expected].map(([key, group]) => {
      const [apiKeyId, project] = key.split('|').map((id) => id || undefined);
      return {
        api_key_id: apiKeyId ?? null,
        api_key_name: apiKeyId === undefined ? null : keyNames.get(apiKeyId),
        project_id: project ?? null,
        project_name: project === projectId ? 'chatbot' : null,
        ...sums(group),
      };
    });
    expect(response.body.data).toHaveLength(6);
    expect(response.body.data).toEqual(expect.arrayContaining(rows));
    // Biggest cost first.
    const costs = response.body.data.map((row: { cost: string }) => parseUsd(row.cost));
    expect(costs).toEqual([...costs].sort((a, b) => (a < b ? 1 : a > b ? -1 : 0)));
  });

  it('sums per day and model within from and to: days oldest first, then biggest cost first', async () => {
    const response = await summary(`?group_by=model,day&from=${days[1]}`);
    const inRange = events.filter((event) => event.occurred_at >= days[1]);
    const expected = sumBy(inRange, (event) => `${event.occurred_at.slice(0, 10)}|${event.model}`);
    expect(response.body.data).toEqual(
      days.slice(1).flatMap((day) => [
        { day, model: PAID, ...sums(expected.get(`${day}|${PAID}`)!) },
        { day, model: FREE, ...sums(expected.get(`${day}|${FREE}`)!) },
      ]),
    );
    expect(response.body.from).toBe(`${days[1]}T00:00:00.000Z`);
    expect(response.body.totals.requests).toBe(80);
  });

  describe('drill-down: the same model, api_key_id and project_id filters on the summary and usage.csv', () => {
    const of = (filter: (event: SentEvent) => boolean) => events.filter(filter);
    const idsOf = (list: { id: string }[]) => list.map((event) => event.id).sort();

    it('sums only the events of one key, per day', async () => {
      const [keyId] = [...keyNames.keys()];
      const response = await summary(`?api_key_id=${keyId.toUpperCase()}`);
      const expected = sumBy(
        of((event) => event.api_key_id === keyId),
        (event) => event.occurred_at.slice(0, 10),
      );
      expect(response.body.data).toEqual(
        [...expected]
          .map(([day, group]) => ({ day, ...sums(group) }))
          .sort((a, b) => a.day.localeCompare(b.day)),
      );
    });

    /** The event ids of a usage.csv download. */
    async function csvIds(query: string): Promise<string[]> {
      const response = await fetch(`${stack.api.url}${ws.path}/usage.csv?${query}`, {
        headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
      });
      expect(response.status).toBe(200);
      const lines = (await response.text()).trim().split('\r\n').slice(1);
      return lines.map((line) => line.split(',')[0]).sort();
    }

    it('exports only the events of one project, or of one key and model', async () => {
      expect(await csvIds(`project_id=${projectId}`)).toEqual(
        idsOf(of((event) => event.project_id === projectId)),
      );
      const [, keyId] = [...keyNames.keys()];
      expect(await csvIds(`api_key_id=${keyId}&model=${encodeURIComponent(PAID)}`)).toEqual(
        idsOf(of((event) => event.api_key_id === keyId && event.model === PAID)),
      );
    });

    it.each([
      ['summary', (path: string) => `${path}/usage/summary`],
      ['usage.csv', (path: string) => `${path}/usage.csv`],
    ])('the %s answers 422 to a key or project id that is not a UUID', async (_, route) => {
      for (const query of ['api_key_id=prod-gateway', 'project_id=1']) {
        const response = await stack.admin.get(`${route(ws.path)}?${query}`);
        expect({ status: response.status, body: response.body }).toEqual({
          status: 422,
          body: { error: { code: 'validation_failed', message: `${query.split('=')[0]} must be a UUID` } },
        });
      }
    });
  });

  it.each([
    ['summary', 'api', (path: string) => `${path}/usage/summary`],
    ['per-event listing', 'ingest', (path: string) => `${path}/usage`],
    ['usage.csv', 'api', (path: string) => `${path}/usage.csv`],
  ] as const)('the %s answers 422 to a query parameter given twice', async (_, app, route) => {
    // Read as an array, a repeated filter would match nothing, a repeated cursor be "invalid": refused instead.
    const client = app === 'api' ? stack.admin : stack.gateway;
    const twice = await client.get(`${route(ws.path)}?model=${encodeURIComponent(PAID)}&model=${FREE}`);
    expect({ status: twice.status, body: twice.body }).toEqual({
      status: 422,
      body: { error: { code: 'validation_failed', message: 'model is given more than once' } },
    });
  });

  it.each([
    ['an unknown dimension', '?group_by=day,hour', 422, 'validation_failed'],
    ['a repeated dimension', '?group_by=model,model', 422, 'validation_failed'],
    ['to before from', '?from=2026-12-02&to=2026-12-01', 422, 'invalid_range'],
    ['more than 366 days', '?from=2025-01-01&to=2026-01-03', 422, 'range_too_long'],
    ['a date that does not exist', '?from=2026-02-30', 422, 'validation_failed'],
  ])('answers %s with a JSON error', async (_, query, status, code) => {
    const response = await summary(query);
    expect({ status: response.status, code: response.body?.error?.code }).toEqual({ status, code });
  });

  it.each([
    ['summary', (path: string) => `${path}/usage/summary`],
    ['usage.csv', (path: string) => `${path}/usage.csv`],
  ])(
    'the %s answers 422 validation_failed to an instant the calendar lacks or not RFC 3339, and records nothing',
    async (_, route) => {
      const before = await takeSnapshot(stack);
      for (const query of [
        'from=2026-02-30T00:00:00Z',
        'to=2026-12-01T24:00:00Z',
        'from=2026-12-01t00:00:00z',
        'from=2026-12-01T00:00:00',
      ]) {
        const response = await stack.admin.get(`${route(ws.path)}?${query}`);
        expect({ query, status: response.status, code: response.body?.error?.code }).toEqual({
          query,
          status: 422,
          code: 'validation_failed',
        });
      }
      await expectNothingReachedStores(stack, before);
    },
  );

  it('answers 404 for an unknown account and 401 without a token', async () => {
    const unknown = await stack.admin.get(`/v1/accounts/${randomUUID()}/usage/summary`);
    expect({ status: unknown.status, code: unknown.body.error.code }).toEqual({
      status: 404,
      code: 'account_not_found',
    });
    const anonymous = await stack.admin.as(null).get(`${ws.path}/usage/summary`);
    expect(anonymous.status).toBe(401);
  });

  it('is readable with a member-role key of the workspace', async () => {
    const member = await ws.createKey({ role: 'member' });
    const response = await ws.asKey(member.key).api.get(`${ws.path}/usage/summary?group_by=model`);
    expect(response.status).toBe(200);
    expect(response.body.totals.requests).toBe(120);
  });

  it('refuses more than 10,000 groups with too_many_groups, and still sums them by day', async () => {
    // 32 days x 4 models x 9 keys x 9 projects = 10,368 possible groups; 10,001 events, each its own.
    const busy = await Workspace.create(stack);
    const models = ['a', 'b', 'c', 'd'].map((letter) => `free/${letter}:free`);
    for (const model of models) await stack.setPrice(model, '0', '0');
    const keyIds: string[] = [];
    const projectIds: string[] = [];
    for (let i = 0; i < 9; i++) {
      keyIds.push((await busy.createKey()).id);
      projectIds.push(await busy.createProject());
    }
    const today = Date.parse(`${days[2]}T00:00:00Z`);
    const manyEvents = Array.from({ length: 10_001 }, (_, i) => ({
      id: `many-${i}`,
      account_id: busy.accountId,
      model: models[Math.floor(i / 32) % 4],
      prompt_tokens: 10,
      completion_tokens: 1,
      api_key_id: keyIds[Math.floor(i / 128) % 9],
      project_id: projectIds[Math.floor(i / 1152)],
      occurred_at: new Date(today - (i % 32) * DAY_MS).toISOString(),
    }));
    for (let start = 0; start < manyEvents.length; start += 1000) {
      const sent = await stack.gateway.post('/v1/usage/events', {
        events: manyEvents.slice(start, start + 1000),
      });
      expect(sent.status).toBe(202);
    }
    await stack.drained();

    const firstDay = new Date(today - 31 * DAY_MS).toISOString().slice(0, 10);
    const everything = await stack.admin.get(
      `${busy.path}/usage/summary?group_by=day,model,api_key,project&from=${firstDay}`,
    );
    expect({ status: everything.status, body: everything.body }).toEqual({
      status: 422,
      body: {
        error: {
          code: 'too_many_groups',
          message: 'more than 10,000 groups: narrow the range or group by fewer dimensions',
        },
        max_groups: 10_000,
      },
    });
    // An api whose summaries may run 1 ms: the same summary is cancelled in Postgres and answered 503.
    const hurried = await new AppProcess('api', { ...stack.appEnv, USAGE_SUMMARY_TIMEOUT_MS: '1' }).start();
    try {
      const cancelled = await new ApiClient(hurried.url, TEST_ADMIN_TOKEN).get(
        `${busy.path}/usage/summary?group_by=day,model,project&from=${firstDay}`,
      );
      expect({ status: cancelled.status, body: cancelled.body }).toEqual({
        status: 503,
        body: {
          error: {
            code: 'summary_timeout',
            message:
              'the summary took longer than 1 ms: narrow the range, or filter by model, key or project',
          },
          timeout_ms: 1,
        },
      });
    } finally {
      await hurried.stop();
    }
    const byDay = await stack.admin.get(`${busy.path}/usage/summary?from=${days[2]}`);
    expect(byDay.body.data).toEqual([
      {
        day: days[2],
        requests: 313,
        prompt_tokens: 3130,
        completion_tokens: 313,
        cached_tokens: 0,
        reasoning_tokens: 0,
        cost: '0.000000',
      },
    ]);
    const byModel = await stack.admin.get(`${busy.path}/usage/summary?group_by=model&from=${days[2]}`);
    expect(byModel.body.totals.requests).toBe(313);
    const all = await stack.admin.get(`${busy.path}/usage/summary?group_by=model&from=${firstDay}`);
    expect(all.body.data).toHaveLength(4);
    expect(all.body.totals.requests).toBe(10_001);
  });
});
