import {
  logQueueErrors,
  QUEUE_OPTIONS,
  QueueName,
  USAGE_FAILED_JOB_KEPT_SECONDS,
  USAGE_GROUP_RECORD_SECONDS,
} from '@app/queue';
import { REDIS, RedisClient, RedisKeys, whenReachable } from '@app/redis';
import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { Queue } from 'bullmq';

/**
 * How long no attempt must have reached an uncommitted usage reservation before the reconciler
 * may take it for dead (its job must be gone as well). A batch's job reaches its entry at every
 * attempt; past this, any group record naming the entry's id (a group's change key) has expired,
 * so no retried batch charges under it again, and a batch that failed for good has outlived the
 * time its failed job is kept. The extra day covers clocks: an entry's time is Redis's or the
 * worker's, the age is measured on the reconciler's.
 */
export const DEAD_USAGE_RESERVATION_AFTER_MS =
  Math.max(USAGE_FAILED_JOB_KEPT_SECONDS, USAGE_GROUP_RECORD_SECONDS) * 1000 + 24 * 3600_000;

/**
 * Whether a usage batch still has a job on the usage queue, in any state (waiting, delayed,
 * active, failed: a failed job can be retried by hand). Job ids are batch ids, minted once at
 * ingest and never reused, so a batch whose job is gone can never be charged again. A group's id
 * is never a job's: it has none.
 */
@Injectable()
export class UsageJobPresence implements OnApplicationShutdown {
  private queue: Queue | undefined;

  constructor(
    @Inject(REDIS) private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
  ) {}

  /** The ids among `batchIds` that have a job on the usage queue. */
  async withJobs(batchIds: readonly string[]): Promise<Set<string>> {
    // Created on first use: a pass seldom has a candidate. Shares the connection: the queue only reads.
    let queue = this.queue;
    if (!queue) {
      queue = this.queue = new Queue(QueueName.Usage, {
        connection: this.redis,
        prefix: this.keys.bullPrefix(),
        ...QUEUE_OPTIONS,
      });
      logQueueErrors(queue, `queue ${QueueName.Usage} (reconciler)`);
    }
    // A queue first used during an outage waits for Redis's return; the PING fails within seconds.
    await whenReachable(this.redis);
    const jobs = await Promise.all(batchIds.map((id) => queue.getJob(id)));
    return new Set(batchIds.filter((_, index) => jobs[index] !== undefined));
  }

  async onApplicationShutdown(): Promise<void> {
    await this.queue?.close();
  }
}
