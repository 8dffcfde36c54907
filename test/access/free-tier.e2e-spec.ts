import { randomUUID } from 'node:crypto';
import { JsonResponse } from '../support/api-client';
import { BillingStack } from '../support/billing-stack';
import { expectNothingReachedStores, takeSnapshot } from '../support/store-snapshot';
import { waitFor } from '../support/wait-for';
import { Workspace } from '../support/workspace';

const PAID_MODEL = 'anthropic/claude-3.5-haiku';
const FREE_MODEL = 'meta-llama/llama-3.1-8b-instruct:free';
const DAY = 86_400_000;

/** The value of one series on an app's /metrics (0 while the series does not exist yet). */
async function metric(url: string, name: string, labels: Record<string, string>): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries(
      [...(match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((label) => [
        label[1],
        label[2],
      ]),
    );
    if (Object.entries(labels).every(([key, value]) => found[key] === value)) return Number(match[3]);
  }
  return 0;
}

const nextUtcMidnight = (ms: number) => Math.floor(ms / DAY) * DAY + DAY;

/**
 * Daily quotas count per UTC day: a test that straddled midnight would start a fresh count halfway.
 * If the day is about to change, wait (on the clock) until it has.
 */
async function clearOfUtcMidnight(marginMs = 120_000): Promise<void> {
  const midnight = nextUtcMidnight(Date.now());
  if (midnight - Date.now() >= marginMs) return;
  await waitFor(
    () => Date.now(),
    (now) => now >= midnight + 1000,
    { timeoutMs: marginMs + 10_000, intervalMs: 500, what: 'the UTC day to change' },
  );
}

function authorizeOn(stack: BillingStack) {
  return (accountId: string, model = FREE_MODEL, extra: Record<string, unknown> = {}) =>
    stack.gateway.post('/v1/authorize', { account_id: accountId, model, ...extra });
}

/** Sends `count` authorize requests, `parallel` at a time, and returns their responses in order. */
async function authorizeMany(
  authorize: (accountId: string) => Promise<JsonResponse>,
  accountId: string,
  count: number,
  parallel = 25,
): Promise<JsonResponse[]> {
  const responses: JsonResponse[] = [];
  for (let sent = 0; sent < count; sent += parallel) {
    const size = Math.min(parallel, count - sent);
    responses.push(...(await Promise.all(Array.from({ length: size }, () => authorize(accountId)))));
  }
  return responses;
}

const statuses = (responses: JsonResponse[]) => responses.map((response) => response.status);

function expectRateLimited(response: JsonResponse, limit: 'per_minute' | 'per_day'): number {
  expect({ status: response.status, body: response.body }).toEqual({
    status: 429,
    body: { allowed: false, reason: 'rate_limited', limit, retry_after_seconds: expect.any(Number) },
  });
  const header = response.headers.get('retry-after');
  expect(header).toMatch(/^\d+$/);
  expect(Number(header)).toBe(response.body.retry_after_seconds);
  return Number(header);
}

describe('free tier and free-model rate limits (default limits: 20 a minute, 50 a day)', () => {
  const stack = new BillingStack({ workers: 1 });
  const authorize = authorizeOn(stack);
  const ingest = (accountId: string, model: string) =>
    stack.gateway.post('/v1/usage/events', {
      events: [
        { id: randomUUID(), account_id: accountId, model, prompt_tokens: 1000, completion_tokens: 200 },
      ],
    });

  beforeAll(async () => {
    await stack.start();
    await stack.setPrice(PAID_MODEL, '0.80', '4.00');
    await stack.setPrice(FREE_MODEL, '0', '0');
  });

  afterAll(() => stack.stop());

  describe('models a Free account may use', () => {
    it('refuses a paid model at authorize with 402 model_not_allowed_on_free_tier, even with credits', async () => {
      const free = await Workspace.create(stack, 'free');
      await stack.grant(free.accountId, '5.00');
      const before = await metric(stack.ingest.url, 'billing_authorize_decisions_total', {
        outcome: 'denied',
        reason: 'model_not_allowed_on_free_tier',
      });

      const response = await authorize(free.accountId, PAID_MODEL);

      expect({ status: response.status, body: response.body }).toEqual({
        status: 402,
        body: { allowed: false, reason: 'model_not_allowed_on_free_tier', balance: '5.000000' },
      });
      expect(
        await metric(stack.ingest.url, 'billing_authorize_decisions_total', {
          outcome: 'denied',
          reason: 'model_not_allowed_on_free_tier',
        }),
      ).toBe(before + 1);
    });

    it('refuses usage of a paid model at ingest with 422, and nothing of it is charged or stored', async () => {
      const free = await Workspace.create(stack, 'free');
      await stack.grant(free.accountId, '5.00');
      const before = await takeSnapshot(stack);

      const response = await ingest(free.accountId, PAID_MODEL);

      expect(response.status).toBe(422);
      expect(response.body.errors).toEqual([
        expect.objectContaining({ index: 0, field: 'model', code: 'model_not_allowed_on_free_tier' }),
      ]);
      await expectNothingReachedStores(stack, before);
      expect((await stack.gateway.get(`${free.path}/balance`)).body.balance).toBe('5.000000');
    });

    it('lets a Free account with no credits use a free model, at authorize and at ingest', async () => {
      const free = await Workspace.create(stack, 'free');
      const allowed = await authorize(free.accountId, FREE_MODEL);
      expect({ status: allowed.status, body: allowed.body }).toEqual({
        status: 200,
        body: { allowed: true, balance: '0.000000' },
      });
      const ingested = await ingest(free.accountId, FREE_MODEL);
      expect({ status: ingested.status, body: ingested.body }).toEqual({
        status: 202,
        body: { accepted: 1, duplicates: 0 },
      });
      await stack.drained();
      expect((await stack.gateway.get(`${free.path}/balance`)).body.balance).toBe('0.000000');
    });

    it('lets a Developer account use and be charged for a paid model', async () => {
      const developer = await Workspace.create(stack, 'developer');
      await stack.grant(developer.accountId, '5.00');
      const allowed = await authorize(developer.accountId, PAID_MODEL);
      expect({ status: allowed.status, body: allowed.body }).toEqual({
        status: 200,
        body: { allowed: true, balance: '5.000000' },
      });
      const ingested = await ingest(developer.accountId, PAID_MODEL);
      expect(ingested.status).toBe(202);
      await stack.drained();
      // 1000 x $0.80/Mtok + 200 x $4.00/Mtok = $0.0016
      expect((await stack.gateway.get(`${developer.path}/balance`)).body.balance).toBe('4.998400');
    });
  });

  describe('per-minute limit on free models', () => {
    it('admits 20 free-model requests in a minute and answers the 21st with 429 per_minute and Retry-After', async () => {
      const free = await Workspace.create(stack, 'free');
      const startedAt = Date.now();
      const first20 = [];
      for (let i = 0; i < 20; i++) first20.push(await authorize(free.accountId));
      expect(statuses(first20)).toEqual(Array(20).fill(200));

      const refused = await authorize(free.accountId);
      const answeredAt = Date.now();
      const retryAfter = expectRateLimited(refused, 'per_minute');
      // The oldest admitted request leaves the 60 s window no earlier than 60 s after we started.
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
      expect(retryAfter).toBeGreaterThanOrEqual(Math.floor(60 - (answeredAt - startedAt) / 1000));

      // Refusals keep coming while the window is full; another account is not affected.
      expectRateLimited(await authorize(free.accountId), 'per_minute');
      const other = await Workspace.create(stack, 'free');
      expect((await authorize(other.accountId)).status).toBe(200);
    });

    it('limits a Developer account on free models too, but never on paid models', async () => {
      const developer = await Workspace.create(stack, 'developer');
      await stack.grant(developer.accountId, '5.00');
      const free = await authorizeMany((id) => authorize(id, FREE_MODEL), developer.accountId, 20, 1);
      expect(statuses(free)).toEqual(Array(20).fill(200));
      expectRateLimited(await authorize(developer.accountId, FREE_MODEL), 'per_minute');

      const paid = await authorizeMany((id) => authorize(id, PAID_MODEL), developer.accountId, 30, 10);
      expect(statuses(paid)).toEqual(Array(30).fill(200));
    });

    it('does not rate limit an Enterprise account (past both the minute and the day limit)', async () => {
      const enterprise = await Workspace.create(stack, 'enterprise');
      const responses = await authorizeMany(authorize, enterprise.accountId, 60, 5);
      expect(statuses(responses)).toEqual(Array(60).fill(200));
    });

    it('admits exactly 20 of 200 concurrent requests and refuses 180 with 429, counted in the metrics', async () => {
      const free = await Workspace.create(stack, 'free');
      const series = (labels: Record<string, string>) =>
        Promise.all([
          metric(stack.ingest.url, 'billing_rate_limit_rejections_total', labels),
          metric(stack.ingest.url, 'billing_authorize_decisions_total', {
            outcome: 'denied',
            reason: 'rate_limited',
          }),
          metric(stack.ingest.url, 'billing_authorize_decisions_total', { outcome: 'allowed', reason: 'ok' }),
          metric(stack.ingest.url, 'billing_rate_limit_rejections_total', { limit: 'per_day' }),
        ]);
      const [rejectedBefore, deniedBefore, allowedBefore, perDayBefore] = await series({
        limit: 'per_minute',
      });

      const responses = await Promise.all(Array.from({ length: 200 }, () => authorize(free.accountId)));

      const admitted = responses.filter((response) => response.status === 200);
      const refused = responses.filter((response) => response.status === 429);
      expect({ admitted: admitted.length, refused: refused.length }).toEqual({ admitted: 20, refused: 180 });
      for (const response of admitted) expect(response.body).toEqual({ allowed: true, balance: '0.000000' });
      for (const response of refused) {
        const retryAfter = expectRateLimited(response, 'per_minute');
        expect(retryAfter).toBeGreaterThanOrEqual(1);
        expect(retryAfter).toBeLessThanOrEqual(60);
      }
      const [rejectedAfter, deniedAfter, allowedAfter, perDayAfter] = await series({ limit: 'per_minute' });
      expect({
        perMinuteRejections: rejectedAfter - rejectedBefore,
        deniedRateLimited: deniedAfter - deniedBefore,
        allowed: allowedAfter - allowedBefore,
        perDayRejections: perDayAfter - perDayBefore,
      }).toEqual({ perMinuteRejections: 180, deniedRateLimited: 180, allowed: 20, perDayRejections: 0 });

      // No request slipped in above the limit afterwards either.
      expectRateLimited(await authorize(free.accountId), 'per_minute');
    });
  });
});

describe('free-model daily limits (per-minute limit raised; 50 a day, 1000 after buying $10)', () => {
  const stack = new BillingStack({ workers: 1, env: { FREE_MODEL_REQUESTS_PER_MINUTE: '100000' } });
  const authorize = authorizeOn(stack);

  beforeAll(async () => {
    await stack.start();
    await stack.setPrice(FREE_MODEL, '0', '0');
  });

  afterAll(() => stack.stop());

  beforeEach(() => clearOfUtcMidnight(), 200_000);

  /** Waits (at most a second: bought credits reach every process's cache) until the account is admitted again. */
  const admittedAgain = (accountId: string) =>
    waitFor(
      () => authorize(accountId),
      (response) => response.status === 200,
      { timeoutMs: 1000, intervalMs: 20, what: 'the raised daily limit to apply' },
    );

  it('answers the 51st request of the UTC day with 429 per_day and Retry-After until the next UTC midnight', async () => {
    const free = await Workspace.create(stack, 'free');
    const first50 = await authorizeMany(authorize, free.accountId, 50);
    expect(statuses(first50)).toEqual(Array(50).fill(200));
    const perDayBefore = await metric(stack.ingest.url, 'billing_rate_limit_rejections_total', {
      limit: 'per_day',
    });

    const sentAt = Date.now();
    const refused = await authorize(free.accountId);
    const answeredAt = Date.now();

    const retryAfter = expectRateLimited(refused, 'per_day');
    const midnight = nextUtcMidnight(sentAt);
    expect(retryAfter).toBeGreaterThanOrEqual(Math.ceil((midnight - answeredAt) / 1000));
    expect(retryAfter).toBeLessThanOrEqual(Math.ceil((midnight - sentAt) / 1000));
    expect(retryAfter).toBeGreaterThan(60);
    expectRateLimited(await authorize(free.accountId), 'per_day');
    expect(
      (await metric(stack.ingest.url, 'billing_rate_limit_rejections_total', { limit: 'per_day' })) -
        perDayBefore,
    ).toBe(2);
  });

  it('admits the account again after a $10.00 purchase, up to 1000 a day; refused requests used no quota', async () => {
    const free = await Workspace.create(stack, 'free');
    expect(statuses(await authorizeMany(authorize, free.accountId, 50))).toEqual(Array(50).fill(200));
    // Five refusals: none of them may count against the day.
    const refusals = await authorizeMany(authorize, free.accountId, 5, 1);
    for (const response of refusals) expectRateLimited(response, 'per_day');

    await free.purchase('10.00');

    await admittedAgain(free.accountId); // request 51 of the day
    const more = await authorizeMany(authorize, free.accountId, 949); // requests 52..1000
    expect(statuses(more)).toEqual(Array(949).fill(200));
    expectRateLimited(await authorize(free.accountId), 'per_day'); // request 1001
  });

  it('does not raise the limit for a $9.99 purchase, only once purchases reach $10.00 in total', async () => {
    const free = await Workspace.create(stack, 'free');
    await free.purchase('9.99');
    expect(statuses(await authorizeMany(authorize, free.accountId, 50))).toEqual(Array(50).fill(200));
    expectRateLimited(await authorize(free.accountId), 'per_day');
    expect((await stack.gateway.get(`${free.path}/balance`)).body.balance).toBe('9.990000');

    await free.purchase('0.01');
    await admittedAgain(free.accountId);
  });

  it('does not raise the limit for granted (not bought) credits, however large', async () => {
    const free = await Workspace.create(stack, 'free');
    await stack.grant(free.accountId, '100.00');
    expect((await stack.gateway.get(`${free.path}/balance`)).body.balance).toBe('100.000000');
    expect(statuses(await authorizeMany(authorize, free.accountId, 50))).toEqual(Array(50).fill(200));
    expectRateLimited(await authorize(free.accountId), 'per_day');
  });

  it('applies the same daily limit to a Developer account on free models', async () => {
    const developer = await Workspace.create(stack, 'developer');
    await stack.grant(developer.accountId, '5.00');
    expect(statuses(await authorizeMany(authorize, developer.accountId, 50))).toEqual(Array(50).fill(200));
    expectRateLimited(await authorize(developer.accountId), 'per_day');
  });

  it('does not limit an Enterprise account past 1000 free-model requests a day', async () => {
    const enterprise = await Workspace.create(stack, 'enterprise');
    const responses = await authorizeMany(authorize, enterprise.accountId, 1100, 50);
    expect(statuses(responses)).toEqual(Array(1100).fill(200));
  });
});
