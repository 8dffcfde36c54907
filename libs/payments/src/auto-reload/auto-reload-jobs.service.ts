import { APP_CONFIG, BaseEnv } from '@app/config';
import {
  AutoReloadPayload,
  autoReloadJobId,
  JobName,
  logQueueErrors,
  QUEUE_OPTIONS,
  QUEUE_SETTINGS,
  QueueName,
} from '@app/queue';
import { closeRedis, openRedis, RedisClient, RedisKeys, whenReachable } from '@app/redis';
import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { Queue } from 'bullmq';

/** States in which a crossing's job will still run and record its outcome itself. */
const LIVE_STATES = new Set(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children']);

/**
 * The crossings' jobs on the payments queue, one per crossing (autoReloadJobId). A failed job is
 * kept 30 days (QUEUE_SETTINGS), and BullMQ ignores an add under a kept id, so making sure a
 * crossing's job runs means retrying the failed one, adding one only when there is none.
 */
@Injectable()
export class AutoReloadJobs implements OnApplicationShutdown {
  private queue: Queue | null = null;
  /** The queue's connection: BullMQ leaves one it was handed open when the queue closes. */
  private connection: RedisClient | null = null;

  constructor(@Inject(APP_CONFIG) private readonly config: BaseEnv) {}

  /** Adds the crossing's job, or retries it if it failed; a job still to run is left alone. */
  async ensure(accountId: string, crossing: number): Promise<void> {
    const jobId = autoReloadJobId(accountId, crossing);
    const queue = await this.reachablePayments();
    const job = await queue.getJob(jobId);
    if (job && (await job.isFailed())) {
      // Two callers at once: the second finds it no longer failed, which is what it wanted.
      await job.retry('failed').catch(async (error: Error) => {
        if (await job.isFailed()) throw error;
      });
      return;
    }
    const payload: AutoReloadPayload = { accountId, crossing };
    await queue.add(JobName.AutoReload, payload, {
      ...QUEUE_SETTINGS[QueueName.Payments].jobOptions,
      jobId,
    });
  }

  /** The crossing's job exists and will still run (not failed, completed or gone). */
  async isLive(accountId: string, crossing: number): Promise<boolean> {
    const job = await (await this.reachablePayments()).getJob(autoReloadJobId(accountId, crossing));
    return job ? LIVE_STATES.has(await job.getState()) : false;
  }

  /**
   * The queue once its connection answers: a card change retries a failed reload on the request
   * path, where an outage must fail within seconds (503), not wait for Redis (whenReachable).
   */
  private async reachablePayments(): Promise<Queue> {
    const queue = this.payments();
    await whenReachable(this.connection!);
    return queue;
  }

  payments(): Queue {
    if (!this.queue) {
      this.connection = openRedis(this.config);
      this.queue = new Queue(QueueName.Payments, {
        connection: this.connection,
        prefix: new RedisKeys(this.config.REDIS_PREFIX).bullPrefix(),
        ...QUEUE_OPTIONS,
      });
      logQueueErrors(this.queue, `queue ${QueueName.Payments}`);
    }
    return this.queue;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.queue?.close();
    if (this.connection) await closeRedis(this.connection);
  }
}
