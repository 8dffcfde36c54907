import { closeRedis, openRedis, RedisKeys } from '@app/redis';
import { randomUUID } from 'node:crypto';
import { outcomeWhileRedisRefused, refusedRedisUrl } from '../../../test/support/redis-server';
import { UsageJobPresence } from './dead-usage-reservations';

/**
 * The reconciler's usage queue is opened on first use, on the shared connection, during a pass
 * (also one asked for over HTTP): opened while Redis is unreachable, its lookup must fail within
 * seconds as Redis unavailable (503 for the request), not wait for Redis to come back.
 */
describe('UsageJobPresence while Redis is unreachable', () => {
  it('fails its first lookup within seconds as Redis unavailable', async () => {
    const redis = openRedis({ REDIS_URL: await refusedRedisUrl(), REDIS_CLUSTER: false });
    const sut = new UsageJobPresence(redis, new RedisKeys('test-usage-job-presence'));
    try {
      expect(await outcomeWhileRedisRefused(sut.withJobs([randomUUID()]))).toBe('unavailable');
    } finally {
      await sut.onApplicationShutdown();
      await closeRedis(redis);
    }
  });
});
