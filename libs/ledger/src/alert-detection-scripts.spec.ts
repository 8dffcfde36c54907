import { RedisKeys } from '@app/redis';
import { randomUUID } from 'node:crypto';
import Redis from 'ioredis';
import { defineLedgerScripts } from './ledger-scripts';

/**
 * Spending-alert detection in reserve-change.lua / settle-change.lua (libs/alerts), against a
 * real Redis: budget counters and thresholds, the low-balance line with its re-arm level.
 */
describe('alert detection in the ledger Lua scripts', () => {
  const redis = defineLedgerScripts(new Redis(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'));
  const keys = new RedisKeys(`spec-${randomUUID().slice(0, 8)}`);
  let bal: string;
  let pend: string;

  beforeEach(() => {
    const account = randomUUID();
    bal = keys.balance(account);
    pend = keys.pending(account);
  });

  afterAll(async () => {
    const found = await redis.keys(`${keys.prefix}:*`);
    if (found.length > 0) await redis.del(...found);
    redis.disconnect();
  });

  /** A $10 budget (thresholds at $5, $7.50, $9) counted in field s:a:2026-11. */
  const budget = (delta: string, seed = '') => [
    '',
    '',
    '2026-10',
    's:a:2026-11',
    delta,
    seed,
    '50=5000000,75=7500000,90=9000000',
  ];
  /** Low-balance line $10, re-arm at $11. */
  const low = ['10000000', '11000000', ''];
  const reserve = (change: string, delta: string, token: string, alertArgs: string[], seed = '100000000') =>
    redis.reserveChange(bal, pend, change, delta, token, seed, '', '', ...alertArgs);

  it('asks for a seed when a budget counter is missing, before changing anything', async () => {
    await redis.hset(bal, 'bal', '100000000', 'gen', '0');
    expect(await reserve('b1', '-100', 't1', budget('100'))).toEqual(['missing', '', '0', '0', '', '']);
    expect(await redis.hget(bal, 'bal')).toBe('100000000');
    expect(await redis.hexists(bal, 's:a:2026-11')).toBe(0);
  });

  it('records each threshold a change crosses, once, with the spend after it', async () => {
    const first = await reserve('b1', '-4000000', 't1', budget('4000000', '900000'));
    expect(first[5]).toBe('inc s:a:2026-11 4000000'); // 4.90: below 5
    const second = await reserve('b2', '-4000000', 't2', budget('4000000'));
    expect(second[5]).toBe('inc s:a:2026-11 4000000;bud s:a:2026-11 50 8900000;bud s:a:2026-11 75 8900000');
    const third = await reserve('b3', '-100000', 't3', budget('100000'));
    expect(third[5]).toBe('inc s:a:2026-11 100000;bud s:a:2026-11 90 9000000');
    expect(await redis.hget(bal, 's:a:2026-11')).toBe('9000000');
  });

  it('returns the same record to a redelivered change and counts nothing twice', async () => {
    await reserve('b1', '-5000000', 't1', budget('5000000', '0'));
    const again = await reserve('b1', '-5000000', 't2', budget('5000000'));
    expect(again).toEqual([
      'exists',
      't1',
      '95000000',
      '95000000',
      '',
      'inc s:a:2026-11 5000000;bud s:a:2026-11 50 5000000',
    ]);
    expect(await redis.hget(bal, 's:a:2026-11')).toBe('5000000');
  });

  it('undoes the counter of a change Postgres did not count, and keeps a counted one', async () => {
    await reserve('b1', '-5000000', 't1', budget('5000000', '0'));
    await reserve('b2', '-1000000', 't2', budget('1000000'));
    await redis.settleChange(bal, pend, 'b1', 't1', '-5000000');
    await redis.settleChange(bal, pend, 'b2', 'other-token', '-1000000');
    expect(await redis.hget(bal, 's:a:2026-11')).toBe('5000000');
    expect(await redis.hlen(pend)).toBe(0);
  });

  it('drops counters of months before the one kept when a counter is seeded', async () => {
    await redis.hset(bal, 'bal', '100000000', 'gen', '0', 's:a:2026-09', '5', 's:a:2026-10', '7');
    await reserve('b1', '-1', 't1', budget('1', '0'));
    expect(await redis.hgetall(bal)).toMatchObject({ 's:a:2026-10': '7', 's:a:2026-11': '1' });
    expect(await redis.hexists(bal, 's:a:2026-09')).toBe(0);
  });

  it('fires low balance once per arming: hovering within the margin stays quiet, recovery re-arms', async () => {
    const sut = async (change: string, delta: string) =>
      (await reserve(change, delta, `t-${change}`, low, '10500000'))[5];
    expect(await sut('c1', '-1000000')).toBe('low 9500000;disarm');
    await redis.hincrby(bal, 'bal', '1200000'); // a small credit: 10.70, below the re-arm level
    expect(await sut('c2', '-1000000')).toBe('');
    await redis.hincrby(bal, 'bal', '5000000'); // 14.70: recovered above 11
    expect(await sut('c3', '-1000000')).toBe(''); // 13.70: re-armed, above the line
    expect(await sut('c4', '-4000000')).toBe('low 9700000;disarm');
  });

  it('re-arms when the change that disarmed is undone at settle', async () => {
    await reserve('c1', '-1000000', 't1', low, '10500000');
    expect(await redis.hget(bal, 'lowoff')).toBe('c1');
    await redis.settleChange(bal, pend, 'c1', '', '0');
    expect(await redis.hexists(bal, 'lowoff')).toBe(0);
  });

  it('starts disarmed when the balance is seeded below the line', async () => {
    expect((await reserve('c1', '-1', 't1', low, '5000000'))[5]).toBe('');
  });

  it('counts exactly one crossing of each threshold among concurrent changes', async () => {
    await redis.hset(bal, 'bal', '100000000', 'gen', '0', 's:a:2026-11', '0');
    const replies = await Promise.all(
      Array.from({ length: 100 }, (_, i) => reserve(`b${i}`, '-100000', `t${i}`, budget('100000'))),
    );
    const crossed = replies.flatMap((reply) =>
      (reply[5] as string).split(';').filter((e) => e.startsWith('bud')),
    );
    expect(crossed.sort()).toEqual([
      'bud s:a:2026-11 50 5000000',
      'bud s:a:2026-11 75 7500000',
      'bud s:a:2026-11 90 9000000',
    ]);
  });
});
