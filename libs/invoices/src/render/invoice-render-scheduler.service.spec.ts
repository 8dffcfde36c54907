import { baseEnvSchema, loadConfig } from '@app/config';
import { DatabaseHandle } from '@app/db';
import { isRedisUnavailable, withDeadline } from '@app/http';
import { randomUUID } from 'node:crypto';
import { freePort } from '../../../../test/support/app-process';
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
    // Nothing listens there: every connect is refused, as when Redis's host is down.
    const config = loadConfig(baseEnvSchema, {
      REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
      REDIS_PREFIX: 'test-render-scheduler',
    });
    const sut = new InvoiceRenderScheduler(config, null as unknown as DatabaseHandle);
    try {
      const failure = await withDeadline(sut.rerender(randomUUID()), 6_000, 'waited for Redis').catch(
        (error: unknown) => error,
      );

      // The deadline's message, or another error's, if it did not fail as Redis being unreachable.
      expect(isRedisUnavailable(failure) ? 'unavailable' : (failure as Error).message).toBe('unavailable');
    } finally {
      await sut.onApplicationShutdown();
    }
  });
});
