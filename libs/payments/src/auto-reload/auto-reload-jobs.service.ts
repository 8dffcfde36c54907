import { APP_CONFIG, BaseEnv } from '@app/config';
import {
  AutoReloadPayload,
  autoReloadJobId,
  JobName,
  LazyQueue,
  QUEUE_SETTINGS,
  QueueName,
} from '@app/queue';
import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';

/** States in which a crossing's job will still run and record its outcome itself. */
const LIVE_STATES = new Set(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children']);

/**
 * The crossings' jobs on the payments queue, one per crossing (autoReloadJobId). A failed job is
 * kept 30 days (QUEUE_SETTINGS), and BullMQ ignores an add under a kept id, so making sure a
 * crossing's job runs means retrying the failed one, adding one only when there is none.
 */
@Injectable()
export class AutoReloadJobs implements OnApplicationShutdown {
  /** A card change retries a failed reload on the request path: an outage is a prompt 503 there. */
  private readonly queue: LazyQueue<AutoReloadPayload>;

  constructor(@Inject(APP_CONFIG) config: BaseEnv) {
    this.queue = new LazyQueue(QueueName.Payments, config);
  }

  /** Adds the crossing's job, or retries it if it failed; a job still to run is left alone. */
  async ensure(accountId: string, crossing: number): Promise<void> {
    const jobId = autoReloadJobId(accountId, crossing);
    const queue = await this.queue.reachable();
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
    const job = await (await this.queue.reachable()).getJob(autoReloadJobId(accountId, crossing));
    return job ? LIVE_STATES.has(await job.getState()) : false;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.queue.close();
  }
}
