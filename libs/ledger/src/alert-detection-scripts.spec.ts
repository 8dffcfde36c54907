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
    expect(await reserve('b1', '-100', 't1', budget('100'))).toEqual([
      'missing',
      'counter',
      '0',
      '0',
      '',
      '',
    ]);
    expect(await redis.hget(bal, 'bal')).toBe('100000000');
    expect(await redis.hexists(bal, 's:a:2026-11')).toBe(0);
  });

  it('records each threshold a change crosses, once, with the spend after it', async () => {
    const first = await reserve('b1', '-4000000', 't1', budget('4000000', '900000'));
    expect(first[5]).toBe('inc s:a:2026-11 4000000'); // 4.90: below 5
    const second = await reserve('b2', '-4000000', 't2', budget('4000000'));
    expect(second[5]).toBe(
      'inc s:a:2026-11 4000000;bud s:a:2026-11 50 8900000;bud s:a:2026-11 75 8900000;level s:a:2026-11 4900000',
    );
    const third = await reserve('b3', '-100000', 't3', budget('100000'));
    expect(third[5]).toBe('inc s:a:2026-11 100000;bud s:a:2026-11 90 9000000;level s:a:2026-11 7500000');
    // The level is the highest threshold amount crossed, in micros.
    expect(await redis.hmget(bal, 's:a:2026-11', 'l:a:2026-11')).toEqual(['9000000', '9000000']);
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
      'inc s:a:2026-11 5000000;bud s:a:2026-11 50 5000000;level s:a:2026-11 0',
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

  /** settle-change.lua with one budget counter's committed spend (and whether its crossings were unreached). */
  const settleCounted = (change: string, token: string, delta: string, spend: string, unreached = '0') =>
    redis.settleChangeWithSpend(2, bal, pend, change, token, delta, 's:a:2026-11', spend, unreached);

  it('settles a counted change at the spend Postgres committed, leaving out its duplicates', async () => {
    await reserve('b1', '-3000000', 't1', budget('3000000', '1000000'));
    // Only $1 of the $3 was new: the rest were events Postgres already held.
    await settleCounted('b1', 't1', '-1000000', '1000000');
    expect(await redis.hget(bal, 's:a:2026-11')).toBe('2000000');
    expect(await redis.hget(bal, 'bal')).toBe('99000000');
    // A counter the caller names no committed spend for keeps what reserve added.
    await reserve('b2', '-500000', 't2', budget('500000'));
    await redis.settleChange(bal, pend, 'b2', 't2', '-500000');
    expect(await redis.hget(bal, 's:a:2026-11')).toBe('2500000');
  });

  it('reads committed spend after API-key spend counters in the arguments', async () => {
    const keySpend = `${keys.prefix}:{x}:key-spend`;
    await redis.set(keySpend, '0');
    await reserve('b1', '-3000000', 't1', budget('3000000', '0'));
    await redis.settleChangeWithSpend(
      3,
      bal,
      pend,
      keySpend,
      'b1',
      't1',
      '-1000000',
      '700',
      's:a:2026-11',
      '1000000',
      '0',
    );
    expect(await redis.hget(bal, 's:a:2026-11')).toBe('1000000');
    expect(await redis.get(keySpend)).toBe('700');
    await redis.del(keySpend);
  });

  it('crosses a threshold again after a crossing the committed spend did not reach', async () => {
    // $4.50 spent; a batch of $1 with $0.90 of duplicates crosses 50 % in Redis, not in Postgres.
    const crossing = await reserve('b1', '-1000000', 't1', budget('1000000', '4500000'));
    expect(crossing[5]).toBe('inc s:a:2026-11 1000000;bud s:a:2026-11 50 5500000;level s:a:2026-11 4500000');
    expect(await reserve('b2', '-100000', 't2', budget('100000'))).toMatchObject({
      5: 'inc s:a:2026-11 100000',
    });
    await settleCounted('b1', 't1', '-100000', '100000', '1');
    expect(await redis.hmget(bal, 's:a:2026-11', 'l:a:2026-11')).toEqual(['4700000', '4500000']);
    await settleCounted('b2', 't2', '-100000', '100000');
    // $0.40 more reaches 50 % for real and is recorded.
    expect((await reserve('b3', '-400000', 't3', budget('400000')))[5]).toBe(
      'inc s:a:2026-11 400000;bud s:a:2026-11 50 5100000;level s:a:2026-11 4500000',
    );
  });

  it('lowers the reached level again when a crossing change is not counted', async () => {
    await reserve('b1', '-6000000', 't1', budget('6000000', '0'));
    expect(await redis.hget(bal, 'l:a:2026-11')).toBe('5000000');
    await redis.settleChange(bal, pend, 'b1', 'other-token', '-6000000');
    expect(await redis.hmget(bal, 's:a:2026-11', 'l:a:2026-11')).toEqual(['0', '0']);
    expect((await reserve('b2', '-6000000', 't2', budget('6000000')))[5]).toContain(
      'bud s:a:2026-11 50 6000000',
    );
  });

  it('counts thresholds the seeded spend had reached as reached, without a kept level', async () => {
    // A counter seeded at $6 (or a budget just set or changed): 50 % is behind it.
    expect((await reserve('b1', '-2000000', 't1', budget('2000000', '6000000')))[5]).toBe(
      'inc s:a:2026-11 2000000;bud s:a:2026-11 75 8000000;level s:a:2026-11 6000000',
    );
  });

  /** The same counter under a $20 budget: thresholds at $10, $15, $18 and $20. */
  const raisedBudget = (delta: string, seed = '') => [
    '',
    '',
    '2026-10',
    's:a:2026-11',
    delta,
    seed,
    '50=10000000,75=15000000,90=18000000,100=20000000',
  ];
  const $10budget = (delta: string, seed = '') => [
    ...budget(delta, seed).slice(0, 6),
    '50=5000000,75=7500000,90=9000000,100=10000000',
  ];

  it('crosses the thresholds of a raised amount that the spend has not reached yet', async () => {
    await reserve('b1', '-10000000', 't1', $10budget('10000000', '0'));
    expect(await redis.hget(bal, 'l:a:2026-11')).toBe('10000000');
    // Raised to $20 with the counter and its level kept: $10 is behind the spend, $15 ahead.
    expect((await reserve('b2', '-4000000', 't2', raisedBudget('4000000')))[5]).toBe(
      'inc s:a:2026-11 4000000',
    );
    expect((await reserve('b3', '-1000000', 't3', raisedBudget('1000000')))[5]).toBe(
      'inc s:a:2026-11 1000000;bud s:a:2026-11 75 15000000;level s:a:2026-11 10000000',
    );
  });

  it('lets no caller with the old amounts block the thresholds of the new ones', async () => {
    // The budget went from $10 to $20 and its counter and level were dropped; a worker that has
    // not reloaded its rules yet seeds the counter at $9.50 and crosses the old 100 % ($10).
    await redis.hset(bal, 'bal', '100000000', 'gen', '0');
    expect((await reserve('b1', '-1000000', 't1', $10budget('1000000', '9500000')))[5]).toBe(
      'inc s:a:2026-11 1000000;bud s:a:2026-11 100 10500000;level s:a:2026-11 9500000',
    );
    // Reloaded: $10 (50 %) counts as passed, $15 (75 %) is still ahead and crossed once.
    expect((await reserve('b2', '-4000000', 't2', raisedBudget('4000000')))[5]).toBe(
      'inc s:a:2026-11 4000000',
    );
    expect((await reserve('b3', '-500000', 't3', raisedBudget('500000')))[5]).toBe(
      'inc s:a:2026-11 500000;bud s:a:2026-11 75 15000000;level s:a:2026-11 10000000',
    );
  });

  it('ignores a level in percent left by the earlier version, seeding it from the spend', async () => {
    // r:… held 90 (percent); read as micros it would put every threshold ahead, to fire again.
    await redis.hset(bal, 'bal', '100000000', 'gen', '0', 's:a:2026-11', '9500000', 'r:a:2026-11', '90');
    expect((await reserve('b1', '-100000', 't1', budget('100000')))[5]).toBe('inc s:a:2026-11 100000');
    expect((await reserve('b2', '-1000000', 't2', $10budget('1000000')))[5]).toBe(
      'inc s:a:2026-11 1000000;bud s:a:2026-11 100 10600000;level s:a:2026-11 9600000',
    );
  });

  it('compares levels and thresholds beyond 2^53 micros exactly', async () => {
    // 2^53 = 9007199254740992: as doubles, ...993 and ...992 are equal.
    const huge = (delta: string, seed = '') => [...budget(delta, seed).slice(0, 6), '100=9007199254740993'];
    expect((await reserve('b1', '-1', 't1', huge('1', '9007199254740991')))[5]).toBe('inc s:a:2026-11 1');
    expect((await reserve('b2', '-1', 't2', huge('1')))[5]).toBe(
      'inc s:a:2026-11 1;bud s:a:2026-11 100 9007199254740993;level s:a:2026-11 9007199254740992',
    );
    await redis.settleChange(bal, pend, 'b2', 'other-token', '-1');
    expect(await redis.hget(bal, 'l:a:2026-11')).toBe('9007199254740992');
  });

  it('drops counters of months before the one kept when a counter is seeded', async () => {
    await redis.hset(bal, 'bal', '100000000', 'gen', '0', 's:a:2026-09', '5', 'l:a:2026-09', '5');
    await redis.hset(bal, 'r:a:2026-09', '50', 's:a:2026-10', '7', 'l:a:2026-10', '7');
    await reserve('b1', '-1', 't1', budget('1', '0'));
    expect(await redis.hgetall(bal)).toMatchObject({
      's:a:2026-10': '7',
      'l:a:2026-10': '7',
      's:a:2026-11': '1',
    });
    expect(await redis.hmget(bal, 's:a:2026-09', 'l:a:2026-09', 'r:a:2026-09')).toEqual([null, null, null]);
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
