import { isRedisUnavailable, withDeadline } from '@app/http';
import { closeRedis, openRedis, RedisKeys } from '@app/redis';
import { randomUUID } from 'node:crypto';
import { freePort } from '../../../test/support/app-process';
import { UsageJobPresence } from './dead-usage-reservations';

/**
 * The reconciler's usage queue is opened on first use, on the shared connection, during a pass
 * (also one asked for over HTTP): opened while Redis is unreachable, its lookup must fail within
 * seconds as Redis unavailable (503 for the request), not wait for Redis to come back.
 */
describe('UsageJobPresence while Redis is unreachable', () => {
  it('fails its first lookup within seconds as Redis unavailable', async () => {
    // Nothing listens there: every connect is refused, as when Redis's host is down.
    const redis = openRedis({ REDIS_URL: `redis://127.0.0.1:${await freePort()}`, REDIS_CLUSTER: false });
    const sut = new UsageJobPresence(redis, new RedisKeys('test-usage-job-presence'));
    try {
      const failure = await withDeadline(sut.withJobs([randomUUID()]), 6_000, 'waited for Redis').catch(
        (error: unknown) => error,
      );

      // The deadline's message, or another error's, if it did not fail as Redis being unreachable.
      expect(isRedisUnavailable(failure) ? 'unavailable' : (failure as Error).message).toBe('unavailable');
    } finally {
      await sut.onApplicationShutdown();
      await closeRedis(redis);
    }
  });
});
