import { loadConfig, workerEnvSchema } from '@app/config';
import { BillingMetrics } from '@app/metrics';
import { JobName, QueueName } from '@app/queue';
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
/** Handlers of the given jobs; none is called, no job being added. */
function handlersOf<Names extends JobName>(names: Names[]): JobHandlers<Names> {
  const byName = Object.fromEntries(names.map((name) => [name, () => Promise.reject(new Error(name))]));
  return { byName } as unknown as JobHandlers<Names>;
}

describe('QueueWorkers shutdown', () => {
  const redis = watchedOwnRedis();

  it.each([
    // Every queue: per queue its worker's two (the one handed to it, its own blocking one); then the
    // queue that schedules maintenance jobs, and the one /metrics reads the job counts on.
    ['all', Object.values(QueueName).length, 2 * Object.values(QueueName).length + 2],
    // The usage queue only (WORKER_ROLE=usage): it schedules no maintenance job.
    ['usage', 1, 2 + 1],
  ])(
    '%s: holds two connections per queue it consumes and no more, and leaves none open in Redis',
    async (role, queueCount, connections) => {
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
      const usage = handlersOf([JobName.MeterUsageBatch]);
      const background = handlersOf(
        Object.values(JobName).filter((name) => name !== JobName.MeterUsageBatch),
      );
      const sut = new QueueWorkers(
        config,
        new BillingMetrics('usage-worker'),
        usage,
        role === 'all' ? background : null,
      );
      await sut.onApplicationBootstrap();
      // Each worker blocking for jobs: every connection has been set up.
      await waitFor(
        () => otherClients(redis.observer()),
        (clients) => clients.filter((client) => client.endsWith(' bzpopmin')).length === queueCount,
        { what: 'every worker to block for jobs' },
      );

      expect(await otherClients(redis.observer())).toHaveLength(connections);

      await sut.onApplicationShutdown();

      expect(await clientsLeftOpen(redis.observer())).toEqual([]);
    },
  );
});
