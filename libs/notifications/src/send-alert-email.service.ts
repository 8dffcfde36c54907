import { BillingMetrics } from '@app/metrics';
import { JobAttempt } from '@app/queue';
import { crashAt, FAILPOINT, FailpointName } from '@app/usage';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { NON_ESSENTIAL_KINDS } from './alert-kinds';
import { AlertEmailRenderer } from './render-alert-email';
import { AlertToMail, DeliveryRow, EmailDeliveriesRepository } from './email-deliveries.repository';
import { MAIL_OPTIONS, MailOptions } from './mail-options';
import { isPermanentSmtpFailure, MailTransport } from './mail-transport.service';

export interface SendAlertEmailResult {
  sent: number;
  suppressed: number;
  failed: number;
}

/** Thrown to retry the job later (BullMQ back-off); nothing about it is permanent. */
export class RetryAlertEmailLater extends Error {}

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const EMAIL_PATTERN = /^[^\s@,;<>"]+@[^\s@,;<>"]+\.[^\s@,;<>"]+$/;

/**
 * Mails one alert to its recipients: the account's billing email, the alert settings' recipients
 * and, for a budget alert, the budget's. One `email_deliveries` row per (dedupe key, recipient):
 *
 * pending → sending (attempts + 1) → SMTP → sent
 *
 * A `sent` row is never sent again. A failed SMTP attempt puts the row back to pending (4xx,
 * network) and the job retries with back-off, or marks it failed (5xx). A row found `sending` was
 * claimed by a worker that is still sending, or that died during or right after the send: it is
 * never sent a second time (the at-most-once rule in README, "Alert emails"); once older than
 * EMAIL_SENDING_STALE_MS it is closed as failed.
 */
@Injectable()
export class SendAlertEmailService {
  private readonly logger = new Logger(SendAlertEmailService.name);
  private readonly messageIdDomain: string;

  constructor(
    private readonly deliveries: EmailDeliveriesRepository,
    private readonly renderer: AlertEmailRenderer,
    private readonly transport: MailTransport,
    private readonly metrics: BillingMetrics,
    @Inject(MAIL_OPTIONS) private readonly options: MailOptions,
    @Inject(FAILPOINT) private readonly failpoint: FailpointName | undefined,
  ) {
    this.messageIdDomain = /@([^\s>]+)>?\s*$/.exec(options.from)?.[1] ?? 'billing.invalid';
  }

  async send(alertId: string, attempt: JobAttempt): Promise<SendAlertEmailResult> {
    const result: SendAlertEmailResult = { sent: 0, suppressed: 0, failed: 0 };
    const alert = await this.deliveries.loadAlert(alertId);
    if (!alert) {
      this.logger.warn(`alert ${alertId} not found; nothing to mail`);
      return result;
    }
    const rows = await this.deliveries.ensureDeliveries(alert, await this.recipientsOf(alert));

    if (NON_ESSENTIAL_KINDS.has(alert.kind) && !alert.non_essential_enabled) {
      const pending = rows.filter((row) => row.status === 'pending').map((row) => row.id);
      result.suppressed = await this.deliveries.suppressPending(
        pending,
        'non-essential alerts are turned off',
      );
      this.metrics.alertEmails.inc({ kind: alert.kind, outcome: 'suppressed' }, result.suppressed);
      return result;
    }

    const email = this.renderer.render(alert);
    let retryLater: string | null = null;
    for (const row of rows) {
      if (row.status === 'sending') {
        if (await this.deliveries.closeInterrupted(row.id, this.options.sendingStaleMs)) {
          result.failed++;
          this.metrics.alertEmails.inc({ kind: alert.kind, outcome: 'failed' });
          this.logger.warn(`delivery ${row.id} of alert ${alert.id} was interrupted mid-send; not resent`);
        } else retryLater ??= `delivery ${row.id} is being sent by another attempt`;
        continue;
      }
      if (row.status !== 'pending') continue;

      const claim = await this.deliveries.claim(alert.account_id, row.id, this.options.accountHourlyLimit);
      if (claim === 'over_limit') {
        result.suppressed++;
        this.metrics.alertEmails.inc({ kind: alert.kind, outcome: 'suppressed' });
        this.logger.warn(
          `account ${alert.account_id} is over its hourly email limit; ${alert.kind} suppressed`,
        );
      }
      if (claim !== 'claimed') continue;

      const outcome = await this.deliver(alert, row, email);
      if (outcome === 'sent') result.sent++;
      else if (outcome === 'failed') result.failed++;
      else {
        // The server is unreachable or deferring: the other recipients would fare the same.
        retryLater = outcome.retry;
        break;
      }
    }
    if (retryLater) {
      if (attempt.lastAttempt)
        this.logger.warn(`alert ${alert.id}: giving the emails to the sweep (${retryLater})`);
      throw new RetryAlertEmailLater(retryLater);
    }
    return result;
  }

  private async deliver(
    alert: AlertToMail,
    row: DeliveryRow,
    email: { subject: string; html: string; text: string },
  ): Promise<'sent' | 'failed' | { retry: string }> {
    const stop = this.metrics.smtpSendDuration.startTimer();
    let sent;
    try {
      sent = await this.transport.send({
        to: row.recipient,
        ...email,
        messageId: `<${row.id}@${this.messageIdDomain}>`,
        headers: { 'X-Billing-Alert-Kind': alert.kind, 'X-Billing-Alert-Id': alert.id },
      });
      stop({ outcome: 'sent' });
    } catch (error) {
      stop({ outcome: 'error' });
      const permanent = isPermanentSmtpFailure(error);
      const message = error instanceof Error ? error.message : String(error);
      await this.deliveries.markAttemptFailed(row.id, permanent, message);
      this.metrics.alertEmails.inc({ kind: alert.kind, outcome: permanent ? 'failed' : 'retried' });
      this.logger.warn(
        `${alert.kind} email ${row.id}: ${permanent ? 'refused for good' : 'will retry'}: ${message}`,
      );
      return permanent ? 'failed' : { retry: message };
    }
    crashAt(this.failpoint, 'after-smtp-send');
    await this.deliveries.markSent(row.id, sent.messageId, sent.response);
    this.metrics.alertEmails.inc({ kind: alert.kind, outcome: 'sent' });
    return 'sent';
  }

  /** Billing email, settings recipients and the budget's, lowercased, without duplicates or malformed addresses. */
  private async recipientsOf(alert: AlertToMail): Promise<string[]> {
    const all = [alert.billing_email, ...alert.settings_recipients];
    const budgetId = alert.kind === 'budget_threshold' ? alert.details.budget_id : undefined;
    if (typeof budgetId === 'string' && UUID_PATTERN.test(budgetId))
      all.push(...(await this.deliveries.budgetRecipients(alert.account_id, budgetId)));
    const recipients = new Set<string>();
    for (const address of all) {
      const normalized = address.trim().toLowerCase();
      if (EMAIL_PATTERN.test(normalized)) recipients.add(normalized);
      else if (normalized) this.logger.warn(`account ${alert.account_id}: skipping malformed recipient`);
    }
    return [...recipients];
  }
}
