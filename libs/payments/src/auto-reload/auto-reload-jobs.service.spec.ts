import { baseEnvSchema, loadConfig } from '@app/config';
import { isRedisUnavailable, withDeadline } from '@app/http';
import { randomUUID } from 'node:crypto';
import { freePort } from '../../../../test/support/app-process';
import { clientsLeftOpen, otherClients, watchedOwnRedis } from '../../../../test/support/redis-server';
import { AutoReloadJobs } from './auto-reload-jobs.service';

/**
 * The payments queue's connection is closed at shutdown: BullMQ leaves a connection it was handed
 * open when its queue closes. Watched in a Redis of the test's own, where nothing else connects.
 */
describe('AutoReloadJobs shutdown', () => {
  const redis = watchedOwnRedis();

  it('leaves no connection of its own open in Redis once a crossing was looked up', async () => {
    const config = loadConfig(baseEnvSchema, {
      REDIS_URL: redis.server.url,
      REDIS_PREFIX: 'test-auto-reload-jobs',
    });
    const sut = new AutoReloadJobs(config);
    expect(await sut.isLive(randomUUID(), 1)).toBe(false);
    expect(await otherClients(redis.observer())).toHaveLength(1);

    await sut.onApplicationShutdown();

    expect(await clientsLeftOpen(redis.observer())).toEqual([]);
  });
});

/**
 * The payments queue is opened on first use, on a request path too (a card change retries a failed
 * reload): opened while Redis is unreachable, its first command must fail as Redis unavailable
 * within seconds (503 for the request), not wait for Redis to come back.
 */
describe('AutoReloadJobs while Redis is unreachable', () => {
  it('fails its first lookup within seconds as Redis unavailable', async () => {
    // Nothing listens there: every connect is refused, as when Redis's host is down.
    const config = loadConfig(baseEnvSchema, {
      REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
      REDIS_PREFIX: 'test-auto-reload-jobs',
    });
    const sut = new AutoReloadJobs(config);
    try {
      const failure = await withDeadline(sut.isLive(randomUUID(), 1), 6_000, 'waited for Redis').catch(
        (error: unknown) => error,
      );

      // The deadline's message, or another error's, if it did not fail as Redis being unreachable.
      expect(isRedisUnavailable(failure) ? 'unavailable' : (failure as Error).message).toBe('unavailable');
    } finally {
      await sut.onApplicationShutdown();
    }
  });
});
