import { baseEnvSchema, loadConfig } from '@app/config';
import { DatabaseHandle } from '@app/db';
import { randomUUID } from 'node:crypto';
import { outcomeWhileRedisRefused, refusedRedisUrl } from '../../../../test/support/redis-server';
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

/**
 * The render queue is opened on first use, after a payment's or a statement's commit on the
 * request path: opened while Redis is unreachable, the enqueue must fail within seconds (the
 * caller logs it and answers; the sweep renders later), not hold the request until Redis is back.
 */
describe('InvoiceRenderScheduler while Redis is unreachable', () => {
  it('fails its first enqueue within seconds as Redis unavailable', async () => {
    const config = loadConfig(baseEnvSchema, {
      REDIS_URL: await refusedRedisUrl(),
      REDIS_PREFIX: 'test-render-scheduler',
    });
    const sut = new InvoiceRenderScheduler(config, null as unknown as DatabaseHandle);
    try {
      expect(await outcomeWhileRedisRefused(sut.rerender(randomUUID()))).toBe('unavailable');
    } finally {
      await sut.onApplicationShutdown();
    }
  });
});
