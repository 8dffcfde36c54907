import { Logger } from '@nestjs/common';

/** A BullMQ Queue, QueueEvents or Worker: each re-emits its connections' errors as 'error'. */
export interface QueueErrorSource {
  on(event: 'error', listener: (error: Error) => void): unknown;
}

/** How long the same message stays quiet once logged: a Redis outage repeats it at every reconnect. */
export const QUEUE_ERROR_REPEAT_MS = 5 * 60_000;
/** Messages remembered at once; past that the oldest are forgotten (and logged again if they recur). */
const REMEMBERED_MESSAGES = 100;

/**
 * Logs the 'error' events of BullMQ objects. Without a listener BullMQ prints each one with its
 * stack on the console (outside the JSON logs), and an EventEmitter 'error' with no listener can
 * throw. During a Redis outage every queue and worker of the process emits the same reconnect
 * error several times a second, so a message is logged once, then at most once every
 * QUEUE_ERROR_REPEAT_MS with the number of repeats it stood for, whichever object emitted it.
 * The connection's own outage and recovery are logged by @app/redis (openRedis).
 */
export class QueueErrorLog {
  private readonly seen = new Map<string, { loggedAt: number; repeats: number }>();
  private readonly watched = new WeakSet<QueueErrorSource>();

  constructor(
    private readonly logger: Pick<Logger, 'error'> = new Logger('Queue'),
    private readonly now: () => number = Date.now,
  ) {}

  /** Listens to `source`'s errors, once however often it is called for the same object. */
  watch(source: QueueErrorSource, label: string): void {
    if (this.watched.has(source)) return;
    this.watched.add(source);
    source.on('error', (error: Error) => this.report(label, error));
  }

  report(label: string, error: Error): void {
    const message = error?.message ?? String(error);
    const now = this.now();
    const seen = this.seen.get(message);
    if (seen && now - seen.loggedAt < QUEUE_ERROR_REPEAT_MS) {
      seen.repeats++;
      return;
    }
    const repeats = seen?.repeats ? ` (${seen.repeats} more since it was last logged)` : '';
    this.seen.delete(message);
    this.seen.set(message, { loggedAt: now, repeats: 0 });
    if (this.seen.size > REMEMBERED_MESSAGES) this.seen.delete(this.seen.keys().next().value!);
    this.logger.error(`${label}: ${message}${repeats}`);
  }
}

const processLog = new QueueErrorLog();

/** Logs `source`'s errors through the process-wide QueueErrorLog (one dedupe for all its queues). */
export function logQueueErrors(source: QueueErrorSource, label: string): void {
  processLog.watch(source, label);
}
