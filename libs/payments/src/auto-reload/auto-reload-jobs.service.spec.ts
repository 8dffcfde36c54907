import { baseEnvSchema, loadConfig } from '@app/config';
import { randomUUID } from 'node:crypto';
import { outcomeWhileRedisRefused, refusedRedisUrl } from '../../../../test/support/redis-server';
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
    const config = loadConfig(baseEnvSchema, {
      REDIS_URL: await refusedRedisUrl(),
      REDIS_PREFIX: 'test-auto-reload-jobs',
    });
    const sut = new AutoReloadJobs(config);
    try {
      expect(await outcomeWhileRedisRefused(sut.isLive(randomUUID(), 1))).toBe('unavailable');
    } finally {
      await sut.onApplicationShutdown();
    }
  });
});
