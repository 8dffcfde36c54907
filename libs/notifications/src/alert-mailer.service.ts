import { APP_CONFIG, BaseEnv } from '@app/config';
import {
  alertEmailJobId,
  JobName,
  logQueueErrors,
  QUEUE_OPTIONS,
  QUEUE_SETTINGS,
  QueueName,
  SendAlertEmailPayload,
} from '@app/queue';
import { openRedis, RedisClient, RedisKeys, whenReachable } from '@app/redis';
import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { Queue } from 'bullmq';

/**
 * Hands raised alerts to the email worker: one job per alert on the `emails` queue, id
 * `alert-email-<alert id>`, so enqueuing an alert twice (a retried raiser, the sweep) adds one job.
 * Call it after the transaction that inserted the alerts commits; if the process dies before,
 * the sweep finds the alerts without deliveries and enqueues them (SweepAlertEmailsService).
 */
@Injectable()
export class AlertMailer implements OnApplicationShutdown {
  private queue: Queue | null = null;
  private connection: RedisClient | null = null;

  constructor(@Inject(APP_CONFIG) private readonly config: BaseEnv) {}

  async enqueue(alertIds: readonly string[]): Promise<void> {
    const unique = [...new Set(alertIds)];
    if (unique.length === 0) return;
    const queue = this.emails();
    // A queue first opened during an outage would wait for Redis's return, holding the request
    // whose commit raised the alerts; this fails within seconds instead (whenReachable).
    await whenReachable(this.connection!);
    await queue.addBulk(
      unique.map((alertId) => ({
        name: JobName.SendAlertEmail,
        data: { alertId } satisfies SendAlertEmailPayload,
        opts: { ...QUEUE_SETTINGS[QueueName.Emails].jobOptions, jobId: alertEmailJobId(alertId) },
      })),
    );
  }

  /** The queue, opened on first use so processes that never raise an alert hold no connection. */
  emails(): Queue {
    if (!this.queue) {
      // Fails fast while Redis is down (the caller's transaction already committed; the sweep catches up).
      this.connection = openRedis(this.config, { enableAutoPipelining: false });
      this.queue = new Queue(QueueName.Emails, {
        connection: this.connection,
        prefix: new RedisKeys(this.config.REDIS_PREFIX).bullPrefix(),
        ...QUEUE_OPTIONS,
      });
      logQueueErrors(this.queue, `queue ${QueueName.Emails}`);
    }
    return this.queue;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.queue?.close();
    this.connection?.disconnect();
  }
}
