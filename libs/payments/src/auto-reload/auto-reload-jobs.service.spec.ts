import { baseEnvSchema, loadConfig } from '@app/config';
import Redis from 'ioredis';
import { randomUUID } from 'node:crypto';
import { otherClients, OwnRedisServer } from '../../../../test/support/redis-server';
import { waitFor } from '../../../../test/support/wait-for';
import { AutoReloadJobs } from './auto-reload-jobs.service';

/**
 * The payments queue's connection is closed at shutdown: BullMQ leaves a connection it was handed
 * open when its queue closes. Watched in a Redis of the test's own, where nothing else connects.
 */
describe('AutoReloadJobs shutdown', () => {
  const server = new OwnRedisServer();
  let observer: Redis;

  beforeAll(async () => {
    await server.start();
    observer = new Redis(server.url);
  });

  afterAll(async () => {
    observer.disconnect();
    await server.kill();
  });

  it('leaves no connection of its own open in Redis once a crossing was looked up', async () => {
    const config = loadConfig(baseEnvSchema, {
      REDIS_URL: server.url,
      REDIS_PREFIX: 'test-auto-reload-jobs',
    });
    const sut = new AutoReloadJobs(config);
    expect(await sut.isLive(randomUUID(), 1)).toBe(false);
    expect(await otherClients(observer)).toHaveLength(1);

    await sut.onApplicationShutdown();

    const left = await waitFor(
      () => otherClients(observer),
      (clients) => clients.length === 0,
      { what: 'Redis to see the queue connection closed', timeoutMs: 3_000 },
    ).catch(() => otherClients(observer));
    expect(left).toEqual([]);
  });
});
