import { APP_CONFIG, BaseEnv } from '@app/config';
import {
  alertEmailJobId,
  JobName,
  LazyQueue,
  QUEUE_SETTINGS,
  QueueName,
  SendAlertEmailPayload,
} from '@app/queue';
import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { Queue } from 'bullmq';

/** What jobs on the `emails` queue carry: an alert's id, or nothing (the sweep's scheduled job). */
type EmailsJobData = SendAlertEmailPayload | Record<string, never>;

/**
 * Hands raised alerts to the email worker: one job per alert on the `emails` queue, id
 * `alert-email-<alert id>`, so enqueuing an alert twice (a retried raiser, the sweep) adds one job.
 * Call it after the transaction that inserted the alerts commits; if the process dies before,
 * the sweep finds the alerts without deliveries and enqueues them (SweepAlertEmailsService).
 */
@Injectable()
export class AlertMailer implements OnApplicationShutdown {
  /**
   * Opened on first use, so processes that never raise an alert hold no connection. Fails fast
   * while Redis is down: the caller's transaction already committed, and the sweep catches up.
   */
  private readonly queue: LazyQueue<EmailsJobData>;

  constructor(@Inject(APP_CONFIG) config: BaseEnv) {
    this.queue = new LazyQueue(QueueName.Emails, config, { enableAutoPipelining: false });
  }

  async enqueue(alertIds: readonly string[]): Promise<void> {
    const unique = [...new Set(alertIds)];
    if (unique.length === 0) return;
    // Not held until Redis's return when it is away: the commit that raised the alerts is done.
    const queue = await this.queue.reachable();
    await queue.addBulk(
      unique.map((alertId) => ({
        name: JobName.SendAlertEmail,
        data: { alertId } satisfies SendAlertEmailPayload,
        opts: { ...QUEUE_SETTINGS[QueueName.Emails].jobOptions, jobId: alertEmailJobId(alertId) },
      })),
    );
  }

  /** The queue as it is (the sweep's scheduler); its commands wait for a connection not ready yet. */
  emails(): Queue<EmailsJobData> {
    return this.queue.open();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.queue.close();
  }
}
