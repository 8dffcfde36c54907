import { loadConfig, workerEnvSchema } from '@app/config';
import { BillingMetrics } from '@app/metrics';
import { QueueName } from '@app/queue';
import { randomBytes } from 'node:crypto';
import { clientsLeftOpen, otherClients, watchedOwnRedis } from '../../../test/support/redis-server';
import { waitFor } from '../../../test/support/wait-for';
import { JobHandlers } from './job-handlers';
import { QueueWorkers } from './queue-workers';

/**
 * The queues and workers hold the connections they need and no more, and every one is closed at
 * shutdown. BullMQ closes only those it opened itself (a worker's blocking one), never one it was
 * handed: those stayed open, two per queue. Counted in a Redis of the test's own where nothing
 * else connects.
 */
describe('QueueWorkers shutdown', () => {
  const redis = watchedOwnRedis();

  it('holds two connections per queue and two more, and leaves none open in Redis', async () => {
    const config = loadConfig(workerEnvSchema, {
      REDIS_URL: redis.server.url,
      REDIS_PREFIX: `test-queue-workers-${randomBytes(5).toString('hex')}`,
      // Nothing scheduled: no job may arrive, and none needs a handler.
      RECONCILE_INTERVAL_MS: '0',
      AUDIT_PRUNE_INTERVAL_MS: '0',
      INVOICE_STATEMENT_INTERVAL_MS: '0',
      INVOICE_OVERDUE_INTERVAL_MS: '0',
      INVOICE_EXPORT_PRUNE_INTERVAL_MS: '0',
      AUTO_RELOAD_SWEEP_INTERVAL_MS: '0',
    });
    const handlers = { byName: {} } as JobHandlers;
    const sut = new QueueWorkers(config, handlers, new BillingMetrics('usage-worker'));
    await sut.onApplicationBootstrap();
    const queueCount = Object.values(QueueName).length;
    // Each worker blocking for jobs: every connection has been set up.
    await waitFor(
      () => otherClients(redis.observer()),
      (clients) => clients.filter((client) => client.endsWith(' bzpopmin')).length === queueCount,
      { what: 'every worker to block for jobs' },
    );

    // Per queue its worker's two (the one handed to it, its own blocking one); then the queue
    // that schedules maintenance jobs, and the one /metrics reads every queue's job counts on.
    expect(await otherClients(redis.observer())).toHaveLength(2 * queueCount + 2);

    await sut.onApplicationShutdown();

    expect(await clientsLeftOpen(redis.observer())).toEqual([]);
  });
});
