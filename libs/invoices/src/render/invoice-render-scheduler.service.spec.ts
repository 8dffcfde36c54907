import { baseEnvSchema, loadConfig } from '@app/config';
import { DatabaseHandle } from '@app/db';
import { randomUUID } from 'node:crypto';
import { clientsLeftOpen, otherClients, watchedOwnRedis } from '../../../../test/support/redis-server';
import { InvoiceRenderScheduler } from './invoice-render-scheduler.service';

/**
 * The render queue's connection is closed at shutdown: BullMQ leaves a connection it was handed
 * open when its queue closes. Watched in a Redis of the test's own, where nothing else connects.
 */
describe('InvoiceRenderScheduler shutdown', () => {
  const redis = watchedOwnRedis();

  it('leaves no connection of its own open in Redis once a render was queued', async () => {
    const config = loadConfig(baseEnvSchema, {
      REDIS_URL: redis.server.url,
      REDIS_PREFIX: 'test-render-scheduler',
    });
    // schedule() only queues: the database is the sweep's.
    const database = null as unknown as DatabaseHandle;
    const sut = new InvoiceRenderScheduler(config, database);
    await sut.schedule([randomUUID()]);
    expect(await otherClients(redis.observer())).toHaveLength(1);

    await sut.onApplicationShutdown();

    expect(await clientsLeftOpen(redis.observer())).toEqual([]);
  });
});
