import { randomUUID } from 'node:crypto';
import Redis from 'ioredis';
import { FreeModelLimiter } from './free-model-limiter';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const NOON = Date.UTC(2030, 0, 15, 12, 0, 0);
const HALF_DAY_S = 12 * 3600;
const FREE = { perMinute: 20, perDay: 50 };
const PURCHASED = { perMinute: 20, perDay: 1000 };

/** The free-model limiter against a real Redis, under a key prefix of this run's own. */
describe('FreeModelLimiter', () => {
  const redis = new Redis(REDIS_URL);
  const prefix = `spec-${randomUUID().slice(0, 8)}`;
  const sut = new FreeModelLimiter(redis, prefix);
  let account: string;

  beforeEach(() => {
    account = randomUUID();
  });

  afterAll(async () => {
    const found = await redis.keys(`${prefix}:*`);
    if (found.length > 0) await redis.del(...found);
    redis.disconnect();
  });

  /** Admits `count` requests `stepMs` apart from `startMs`; fails if any is refused. */
  async function fill(count: number, startMs: number, stepMs: number, limits = FREE): Promise<void> {
    for (let i = 0; i < count; i++) {
      expect(await sut.admit(account, limits, startMs + i * stepMs)).toEqual({ allowed: true });
    }
  }

  it('refuses the 21st request in a minute with per_minute and the wait for the oldest to age out', async () => {
    await fill(20, NOON, 1000);
    // The oldest (NOON) leaves the window at NOON + 60 s: 40.5 s from NOON + 19.5 s.
    expect(await sut.admit(account, FREE, NOON + 19_500)).toEqual({
      allowed: false,
      limit: 'per_minute',
      retryAfterSeconds: 41,
    });
  });

  it('admits one more once the oldest request has aged past 60 s', async () => {
    await fill(20, NOON, 1000);
    expect(await sut.admit(account, FREE, NOON + 59_999)).toMatchObject({ allowed: false });
    expect(await sut.admit(account, FREE, NOON + 60_000)).toEqual({ allowed: true });
    // The next slot frees when the second request (NOON + 1 s) ages out.
    expect(await sut.admit(account, FREE, NOON + 60_000)).toEqual({
      allowed: false,
      limit: 'per_minute',
      retryAfterSeconds: 1,
    });
  });

  it('waits for enough requests to age out when the minute limit was lowered below the count', async () => {
    await fill(25, NOON, 1000, { perMinute: 30, perDay: 50 });
    // 6 of 25 must leave to get under 20; the 6th oldest (NOON + 5 s) leaves at NOON + 65 s.
    expect(await sut.admit(account, FREE, NOON + 25_000)).toEqual({
      allowed: false,
      limit: 'per_minute',
      retryAfterSeconds: 40,
    });
  });

  it('does not let refused requests consume quota', async () => {
    await fill(20, NOON, 0);
    for (let i = 0; i < 50; i++) {
      expect(await sut.admit(account, FREE, NOON + 30_000 + i)).toMatchObject({ allowed: false });
    }
    expect(await sut.admit(account, FREE, NOON + 60_000)).toEqual({ allowed: true });
  });

  it('admits the 50th request of a UTC day and refuses the 51st until midnight', async () => {
    // 5 s apart: 12 a minute, so only the daily limit can refuse.
    await fill(50, NOON, 5000);
    const last = NOON + 50 * 5000;
    expect(await sut.admit(account, FREE, last)).toEqual({
      allowed: false,
      limit: 'per_day',
      retryAfterSeconds: HALF_DAY_S - 250,
    });
  });

  it('does not count refused requests against the day', async () => {
    await fill(50, NOON, 5000);
    for (let i = 0; i < 30; i++) await sut.admit(account, FREE, NOON + 300_000 + i * 5000);
    const raised = { ...FREE, perDay: 51 };
    expect(await sut.admit(account, raised, NOON + 600_000)).toEqual({ allowed: true });
    expect(await sut.admit(account, raised, NOON + 605_000)).toMatchObject({ limit: 'per_day' });
  });

  it('admits again the same day once the daily limit is raised after a purchase', async () => {
    await fill(50, NOON, 5000);
    expect(await sut.admit(account, FREE, NOON + 300_000)).toMatchObject({ limit: 'per_day' });
    expect(await sut.admit(account, PURCHASED, NOON + 300_000)).toEqual({ allowed: true });
  });

  it('reports per_day when both limits are exceeded and the day waits longer', async () => {
    await fill(20, NOON, 0, { perMinute: 20, perDay: 20 });
    expect(await sut.admit(account, { perMinute: 20, perDay: 20 }, NOON)).toEqual({
      allowed: false,
      limit: 'per_day',
      retryAfterSeconds: HALF_DAY_S,
    });
  });

  it('reports per_minute when both limits are exceeded and the minute waits longer', async () => {
    const lateEvening = Date.UTC(2030, 0, 15, 23, 59, 50);
    await fill(20, lateEvening, 0, { perMinute: 20, perDay: 20 });
    expect(await sut.admit(account, { perMinute: 20, perDay: 20 }, lateEvening)).toEqual({
      allowed: false,
      limit: 'per_minute',
      retryAfterSeconds: 60,
    });
  });

  it('admits exactly the limit out of 200 concurrent requests', async () => {
    const connections = [redis, new Redis(REDIS_URL), new Redis(REDIS_URL), new Redis(REDIS_URL)];
    try {
      const limiters = connections.map((connection) => new FreeModelLimiter(connection, prefix));
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) => limiters[i % limiters.length].admit(account, PURCHASED, NOON)),
      );
      expect(results.filter((r) => r.allowed)).toHaveLength(20);
      expect(await redis.zcard(`${prefix}:acct:{${account}}:rl:min`)).toBe(20);
      expect(await redis.get(`${prefix}:acct:{${account}}:rl:day:2030-01-15`)).toBe('20');
    } finally {
      connections.slice(1).forEach((connection) => connection.disconnect());
    }
  });

  it('keeps accounts independent', async () => {
    await fill(20, NOON, 0);
    expect(await sut.admit(account, FREE, NOON)).toMatchObject({ allowed: false });
    expect(await sut.admit(randomUUID(), FREE, NOON)).toEqual({ allowed: true });
  });

  it('starts a new daily count at UTC midnight', async () => {
    const limits = { perMinute: 20, perDay: 1 };
    const lastMs = Date.UTC(2030, 0, 15, 23, 59, 59, 999);
    expect(await sut.admit(account, limits, lastMs)).toEqual({ allowed: true });
    expect(await sut.admit(account, limits, lastMs)).toEqual({
      allowed: false,
      limit: 'per_day',
      retryAfterSeconds: 1,
    });
    expect(await sut.admit(account, limits, lastMs + 1)).toEqual({ allowed: true });
  });

  it('keeps both keys of an account in one cluster slot and the day counter past its day', async () => {
    await sut.admit(account, FREE, NOON);
    const found = (await redis.keys(`${prefix}:acct:*`)).filter((key) => key.includes(account)).sort();
    expect(found).toEqual([
      `${prefix}:acct:{${account}}:rl:day:2030-01-15`,
      `${prefix}:acct:{${account}}:rl:min`,
    ]);
    expect(await redis.ttl(found[0])).toBeGreaterThan(HALF_DAY_S + 3600);
    expect(await redis.pttl(found[1])).toBeLessThanOrEqual(60_000);
  });

  it('rejects limits that are not positive integers', async () => {
    await expect(sut.admit(account, { perMinute: 0, perDay: 50 }, NOON)).rejects.toThrow(RangeError);
    await expect(sut.admit(account, { perMinute: 20, perDay: 1.5 }, NOON)).rejects.toThrow(RangeError);
  });
});
