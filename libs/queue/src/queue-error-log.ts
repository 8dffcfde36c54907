import { RepeatedErrorLog } from '@app/redis';
import { Logger } from '@nestjs/common';

/** A BullMQ Queue, QueueEvents or Worker: each re-emits its connections' errors as 'error'. */
export interface QueueErrorSource {
  on(event: 'error', listener: (error: Error) => void): unknown;
}

/**
 * Logs the 'error' events of BullMQ objects. Without a listener BullMQ prints each one with its
 * stack on the console (outside the JSON logs), and an EventEmitter 'error' with no listener can
 * throw. During a Redis outage every queue and worker of the process emits the same reconnect
 * error several times a second, so each message goes through one RepeatedErrorLog: logged once,
 * then at most once every ERROR_REPEAT_MS with its number of repeats, whichever object emitted it.
 * The connection's own outage and recovery are logged by @app/redis (openRedis).
 */
export class QueueErrorLog {
  private readonly log: RepeatedErrorLog;
  private readonly watched = new WeakSet<QueueErrorSource>();

  constructor(logger: Pick<Logger, 'error'> = new Logger('Queue'), now: () => number = Date.now) {
    this.log = new RepeatedErrorLog((line) => logger.error(line), now);
  }

  /** Listens to `source`'s errors, once however often it is called for the same object. */
  watch(source: QueueErrorSource, label: string): void {
    if (this.watched.has(source)) return;
    this.watched.add(source);
    source.on('error', (error: Error) => this.log.report(label, error));
  }

  report(label: string, error: Error): void {
    this.log.report(label, error);
  }
}

const processLog = new QueueErrorLog();

/** Logs `source`'s errors through the process-wide QueueErrorLog (one dedupe for all its queues). */
export function logQueueErrors(source: QueueErrorSource, label: string): void {
  processLog.watch(source, label);
}
