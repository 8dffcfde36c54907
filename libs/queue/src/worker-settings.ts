import { JobsOptions } from 'bullmq';
import { QueueName } from './queue-names';

/** Exponential back-off with full jitter, capped so a long Postgres outage retries every ~30 s. */
export function cappedBackoff(attemptsMade: number, baseMs = 500, capMs = 30_000): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(attemptsMade, 16));
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}

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
      removeOnFail: { age: 7 * 24 * 3600 },
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
} as const;
