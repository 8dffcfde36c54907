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
} as const;
