import { RedisClient, RedisKeys } from '@app/redis';
import { randomUUID } from 'node:crypto';
import Redis from 'ioredis';
import { UsageGroupClaims } from './usage-group-claims';

/** claim-usage-group.lua against a real Redis, under a key prefix of this run's own. */
describe('UsageGroupClaims', () => {
  const redis = new Redis(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379');
  const keys = new RedisKeys(`spec-${randomUUID().slice(0, 8)}`);
  const claims = new UsageGroupClaims(redis as RedisClient, keys);

  afterAll(async () => {
    const found = await redis.keys(`${keys.prefix}:*`);
    if (found.length > 0) await redis.del(...found);
    redis.disconnect();
  });

  it('claims all batches of a group, or none when one is already in another group', async () => {
    const first = { groupId: 'g1', batchIds: ['b1', 'b2'] };
    expect(await claims.claim(first)).toBe(true);
    expect(await claims.groupOf('b2')).toEqual(first);

    // b2 belongs to g1: g2 claims nothing, b3 included.
    expect(await claims.claim({ groupId: 'g2', batchIds: ['b3', 'b2'] })).toBe(false);
    expect(await claims.groupOf('b3')).toBeNull();
    expect(await claims.groupOf('b2')).toEqual(first);
  });

  it('forgets a released group: its batches can be grouped again', async () => {
    const group = { groupId: 'g3', batchIds: ['b4', 'b5'] };
    await claims.claim(group);
    await claims.release(group);
    expect(await claims.groupOf('b4')).toBeNull();
    expect(await claims.groupOf('b5')).toBeNull();
    expect(await claims.claim({ groupId: 'g4', batchIds: ['b5'] })).toBe(true);
  });

  it('keeps a record long enough to outlast the retries of its batches (days, not the dedupe window)', async () => {
    await claims.claim({ groupId: 'g5', batchIds: ['b6'] });
    expect(await redis.ttl(keys.usageGroupOf('b6'))).toBeGreaterThan(7 * 24 * 3600);
  });
});
