import { baseEnvSchema, loadConfig } from '@app/config';
import { DatabaseHandle } from '@app/db';
import Redis from 'ioredis';
import { randomUUID } from 'node:crypto';
import { otherClients, OwnRedisServer } from '../../../../test/support/redis-server';
import { waitFor } from '../../../../test/support/wait-for';
import { InvoiceRenderScheduler } from './invoice-render-scheduler.service';

/**
 * The render queue's connection is closed at shutdown: BullMQ leaves a connection it was handed
 * open when its queue closes. Watched in a Redis of the test's own, where nothing else connects.
 */
describe('InvoiceRenderScheduler shutdown', () => {
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

  it('leaves no connection of its own open in Redis once a render was queued', async () => {
    const config = loadConfig(baseEnvSchema, {
      REDIS_URL: server.url,
      REDIS_PREFIX: 'test-render-scheduler',
    });
    // schedule() only queues: the database is the sweep's.
    const database = null as unknown as DatabaseHandle;
    const sut = new InvoiceRenderScheduler(config, database);
    await sut.schedule([randomUUID()]);
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
