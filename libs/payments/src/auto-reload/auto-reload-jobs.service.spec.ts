import { baseEnvSchema, loadConfig } from '@app/config';
import { randomUUID } from 'node:crypto';
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
