import { JobsOptions } from 'bullmq';
import { QueueName } from './queue-names';

/** Exponential back-off with full jitter, capped so a long Postgres outage retries every ~30 s. */
export function cappedBackoff(attemptsMade: number, baseMs = 500, capMs = 30_000): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(attemptsMade, 16));
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}

/**
 * How long a usage job that failed for good is kept (BullMQ removes it once older, when another
 * job fails). Past it, its batch can never be retried: the reconciler then undoes the reservation
 * it left in Redis (libs/ledger dead-usage-reservations.ts).
 */
export const USAGE_FAILED_JOB_KEPT_SECONDS = 7 * 24 * 3600;

/**
 * How long the record of a usage group (which batches were charged together) is kept after it is
 * claimed (libs/usage UsageGroupClaims). Far longer than a batch can wait for its group's commit (a
 * usage job is retried for days before it fails, and failed jobs are kept
 * USAGE_FAILED_JOB_KEPT_SECONDS): a record that expired while its group was still uncommitted
 * would let the group's batches be charged again alone, leaving the group's Redis deductions for
 * the reconciler to undo. Once it expired, nothing charges under the group's id again.
 */
export const USAGE_GROUP_RECORD_SECONDS = 14 * 24 * 3600;

/**
 * Delivery settings of every queue, in one place. Usage jobs retry for days rather than fail:
 * a failed usage job would be accepted usage never charged (I2).
 */
export const QUEUE_SETTINGS = {
  [QueueName.Usage]: {
    jobOptions: {
      attempts: 10_000,
      backoff: { type: 'capped' },
      removeOnComplete: true,
      removeOnFail: { age: USAGE_FAILED_JOB_KEPT_SECONDS },
    } satisfies JobsOptions,
    /** Seconds between stalled-job checks; a dead worker's job returns to the queue after the lock expires. */
    stalledIntervalMs: 5_000,
    maxStalledCount: 1_000,
  },
  [QueueName.Maintenance]: {
    jobOptions: {
      attempts: 3,
      backoff: { type: 'capped' },
      removeOnComplete: true,
      removeOnFail: 100,
    } satisfies JobsOptions,
    stalledIntervalMs: 30_000,
    maxStalledCount: 3,
  },
  /**
   * Auto-reload charges. A job retries only for soft failures (processing errors, rate limits,
   * network), a few times minutes apart; hard declines complete the job with the decline recorded,
   * so a bad card is never charged in a loop. Completed jobs are kept a week so a redelivered
   * usage batch re-adding its crossing's job id is dropped by BullMQ (the purchase's request key
   * dedupes after that). The lock (PAYMENTS_LOCK_DURATION_MS, 120 s by default) outlasts a slow
   * Stripe call with the SDK's own retries.
   */
  [QueueName.Payments]: {
    jobOptions: {
      attempts: 5,
      backoff: { type: 'capped' },
      removeOnComplete: { age: 7 * 24 * 3600 },
      removeOnFail: { age: 30 * 24 * 3600 },
    } satisfies JobsOptions,
    concurrency: 4,
    backoffBaseMs: 15_000,
    backoffCapMs: 10 * 60_000,
    stalledIntervalMs: 30_000,
    maxStalledCount: 3,
  },
  /**
   * Invoice PDFs. A render is reproducible and keyed by the invoice, so any retry is safe. Jobs are
   * removed when done, failed ones too: the sweep (InvoiceRenderSweeper) re-adds any invoice
   * still without a PDF under the same job id, which a kept job would block.
   */
  [QueueName.Invoices]: {
    jobOptions: {
      attempts: 8,
      backoff: { type: 'capped' },
      removeOnComplete: true,
      removeOnFail: true,
    } satisfies JobsOptions,
    concurrency: 2,
    backoffBaseMs: 1_000,
    backoffCapMs: 60_000,
    stalledIntervalMs: 5_000,
    maxStalledCount: 100,
  },
  /**
   * Alert emails (libs/notifications), one job per alert. While SMTP is down a job retries 20
   * times with capped back-off (2-4 s, 4-8 s, … then 2.5-5 min apart): about 35-50 minutes in all.
   * Failed jobs are removed so the sweep (SweepAlertEmailsService) can re-add an alert whose
   * deliveries are still pending under the same job id; Postgres rows, not BullMQ, say what was
   * sent, so a re-added job never mails a recipient twice.
   */
  [QueueName.Emails]: {
    jobOptions: {
      attempts: 20,
      backoff: { type: 'capped' },
      removeOnComplete: true,
      removeOnFail: true,
    } satisfies JobsOptions,
    concurrency: 4,
    backoffBaseMs: 2_000,
    backoffCapMs: 5 * 60_000,
    stalledIntervalMs: 5_000,
    maxStalledCount: 100,
  },
} as const;
