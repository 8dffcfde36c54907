import { AlertMailer } from '@app/alerts';
import { JobName, QUEUE_SETTINGS, QueueName } from '@app/queue';
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { EmailDeliveriesRepository } from './email-deliveries.repository';
import { MAIL_OPTIONS, MailOptions } from './mail-options';

/** Alerts enqueued per sweep; the next sweep takes the rest. */
const SWEEP_BATCH = 500;

/**
 * Catches alerts whose emails would otherwise never go: raised but not enqueued (the raiser died
 * between its commit and AlertMailer.enqueue), or with deliveries still pending after their job
 * gave up (an SMTP outage longer than its ~40 minutes of retries) or whose worker died. Runs as a
 * scheduled job on the emails queue every ALERT_EMAIL_SWEEP_INTERVAL_MS; re-adding an alert that
 * still has a job is a no-op (same job id), and sent rows are never sent again.
 */
@Injectable()
export class SweepAlertEmailsService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(SweepAlertEmailsService.name);
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly deliveries: EmailDeliveriesRepository,
    private readonly mailer: AlertMailer,
    @Inject(MAIL_OPTIONS) private readonly options: MailOptions,
  ) {}

  async sweep(): Promise<{ enqueued: number }> {
    const ids = await this.deliveries.alertsToSweep(this.options.sweepAgeMs, SWEEP_BATCH);
    await this.mailer.enqueue(ids);
    if (ids.length > 0) this.logger.log(`sweep enqueued the emails of ${ids.length} alert(s)`);
    return { enqueued: ids.length };
  }

  async onApplicationBootstrap(): Promise<void> {
    const queue = this.mailer.emails();
    if (this.options.sweepIntervalMs === 0) {
      // A scheduler outlives the process in Redis: turning the sweep off must remove an earlier one.
      await queue.removeJobScheduler(JobName.SweepAlertEmails);
      return;
    }
    await this.schedule();
    // Upserting is idempotent and keeps the next run time; repeating it restores a schedule Redis lost.
    this.timer = setInterval(
      () => void this.schedule().catch((error: Error) => this.logger.warn(error.message)),
      60_000,
    ).unref();
  }

  private async schedule(): Promise<void> {
    await this.mailer.emails().upsertJobScheduler(
      JobName.SweepAlertEmails,
      { every: this.options.sweepIntervalMs },
      {
        name: JobName.SweepAlertEmails,
        data: {},
        opts: { ...QUEUE_SETTINGS[QueueName.Emails].jobOptions, attempts: 1 },
      },
    );
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }
}
