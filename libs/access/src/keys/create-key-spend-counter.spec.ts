import { defineLedgerScripts } from '@app/ledger';
import { RedisKeys } from '@app/redis';
import Redis from 'ioredis';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * create-key-spend-counter.lua with settle-change.lua against a real Redis: a counter created
 * from a Postgres read counts each batch once, whether the batch settles before or after it.
 */
describe('key spend counter creation', () => {
  const redis = defineLedgerScripts(new Redis(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'));
  redis.defineCommand('createCounter', {
    numberOfKeys: 3,
    lua: readFileSync(join(__dirname, 'create-key-spend-counter.lua'), 'utf8'),
  });
  const create = (...args: string[]) =>
    (redis as unknown as { createCounter(...a: string[]): Promise<string | null> }).createCounter(
      counter,
      bal,
      pend,
      ...args,
    );
  const keys = new RedisKeys(`spec-${randomUUID().slice(0, 8)}`);
  let bal: string;
  let pend: string;
  let counter: string;

  beforeEach(async () => {
    const account = randomUUID();
    bal = keys.balance(account);
    pend = keys.pending(account);
    counter = keys.keySpend(account, randomUUID(), 'd:2026-12-03');
    await redis.hset(bal, 'bal', '1000000', 'gen', '0');
  });

  afterAll(async () => {
    const found = await redis.keys(`${keys.prefix}:*`);
    if (found.length > 0) await redis.del(...found);
    redis.disconnect();
  });

  /** Settles change `change` as committed with 300 micros of spend on the counter. */
  const settle = (change: string, token: string) =>
    redis.settleChangeWithSpend(3, bal, pend, counter, change, token, '-300', '300');

  it('does not add again the spend of a batch the Postgres read already included', async () => {
    await redis.reserveChange(bal, pend, 'b1', '-300', 't1', '');
    const gen = (await redis.hget(bal, 'gen'))!;
    // Postgres: 300 spent, b1 committed (not yet settled).
    expect(await create('300', '600', gen, 'b1')).toBe('300');
    expect(await redis.hget(pend, 'b1|k')).toBe(counter);
    await settle('b1', 't1');
    expect(await redis.get(counter)).toBe('300');
    expect(await redis.hlen(pend)).toBe(0);
    expect(Number(await redis.ttl(counter))).toBeGreaterThan(590);
  });

  it('adds the spend of a pending batch the read did not include', async () => {
    await redis.reserveChange(bal, pend, 'b1', '-300', 't1', '');
    expect(await create('0', '600', (await redis.hget(bal, 'gen'))!)).toBe('0');
    await settle('b1', 't1');
    expect(await redis.get(counter)).toBe('300');
  });

  it('creates nothing and asks for a new read when a batch was reserved or settled since', async () => {
    const gen = (await redis.hget(bal, 'gen'))!;
    await redis.reserveChange(bal, pend, 'b1', '-300', 't1', '');
    await settle('b1', 't1'); // the counter did not exist: nothing added, and the read missed it
    expect(await create('0', '600', gen)).toBeNull();
    expect(await redis.exists(counter)).toBe(0);
  });

  it('leaves a counter that exists as it is', async () => {
    await redis.set(counter, '42');
    expect(await create('300', '600', 'stale-gen', 'b1')).toBe('42');
    expect(await redis.get(counter)).toBe('42');
  });
});
