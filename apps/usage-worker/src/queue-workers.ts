import { WorkerEnv } from '@app/config';
import { BillingMetrics } from '@app/metrics';
import {
  cappedBackoff,
  closeWorker,
  JobAttempt,
  JobName,
  logQueueErrors,
  QUEUE_OF_JOB,
  QUEUE_OPTIONS,
  QUEUE_SETTINGS,
  QueueName,
} from '@app/queue';
import { closeRedis, openBullRedis, openRedis, RedisClient, RedisKeys } from '@app/redis';
import {
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnApplicationShutdown,
  Optional,
} from '@nestjs/common';
import { APP_CONFIG } from '@app/config';
import { Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import { withDeadline } from '@app/http';
import {
  BACKGROUND_JOB_HANDLERS,
  BackgroundJobName,
  JobHandler,
  JobHandlers,
  USAGE_JOB_HANDLERS,
  UsageJobName,
} from './job-handlers';

/** How long a worker or queue may take to close gracefully at shutdown; start-all kills after 20 s (two rounds, workers then queues, and their connections' QUIT_DEADLINE_MS). */
const CLOSE_DEADLINE_MS = 6_000;

/** The fields of QUEUE_SETTINGS entries; those a queue leaves out come from the worker's config. */
interface QueueSettings {
  stalledIntervalMs: number;
  maxStalledCount: number;
  concurrency?: number;
  backoffBaseMs?: number;
  backoffCapMs?: number;
}

/**
 * Runs a BullMQ worker per queue with the settings from @app/queue, dispatching each job to its
 * handler by name. The queues are those whose jobs the process has handlers for (its WORKER_ROLE):
 * a queue's depth is exported, and the maintenance jobs scheduled, by the process consuming it.
 * Usage jobs retry (capped back-off) until they commit; unknown names fail fast.
 */
@Injectable()
export class QueueWorkers implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(QueueWorkers.name);
  private readonly workers: Worker[] = [];
  private readonly handlers: Partial<Record<JobName, JobHandler<JobName>>>;
  /** The queues this process consumes. */
  private readonly queueNames: QueueName[];
  /**
   * The one queue this process adds to (its job schedulers). Workers need no Queue of their own,
   * and each Queue costs a Redis connection.
   */
  private maintenanceQueue: Queue | undefined;
  /** The queues as /metrics reads them: see onApplicationBootstrap. */
  private readonly countedQueues: Queue[] = [];
  /**
   * The connections the queues and workers were handed. BullMQ closes only connections it opened
   * itself (a worker's blocking one); these are ours to close once their Queue or Worker has.
   */
  private readonly bullConnections: RedisClient[] = [];
  private countsRedis: RedisClient | undefined;
  private scheduleTimer: NodeJS.Timeout | undefined;

  constructor(
    @Inject(APP_CONFIG) private readonly config: WorkerEnv,
    private readonly metrics: BillingMetrics,
    @Optional() @Inject(USAGE_JOB_HANDLERS) usage: JobHandlers<UsageJobName> | null,
    @Optional() @Inject(BACKGROUND_JOB_HANDLERS) background: JobHandlers<BackgroundJobName> | null,
  ) {
    this.handlers = { ...usage?.byName, ...background?.byName } as Partial<
      Record<JobName, JobHandler<JobName>>
    >;
    const jobNames = Object.keys(this.handlers) as JobName[];
    this.queueNames = Object.values(QueueName).filter((queue) =>
      jobNames.some((name) => QUEUE_OF_JOB[name] === queue),
    );
  }

  async onApplicationBootstrap(): Promise<void> {
    const prefix = new RedisKeys(this.config.REDIS_PREFIX).bullPrefix();
    // Job counts are read at scrape time on a connection of their own that fails fast: on the
    // queues' (maxRetriesPerRequest: null) a command waits for Redis to come back, and so would
    // every scrape during an outage.
    this.countsRedis = openRedis(this.config);
    for (const queueName of this.queueNames) {
      const counted = new Queue(queueName, { connection: this.countsRedis, prefix, ...QUEUE_OPTIONS });
      // Its failed reads are also counted by the scrape (billing_metrics_scrape_read_failures_total).
      logQueueErrors(counted, `queue ${queueName} (job counts)`);
      this.countedQueues.push(counted);
      this.metrics.watchQueue(queueName, () =>
        counted.getJobCounts('waiting', 'active', 'delayed', 'failed', 'prioritized'),
      );
      const settings: QueueSettings = QUEUE_SETTINGS[queueName];
      const lockDuration =
        queueName === QueueName.Payments
          ? this.config.PAYMENTS_LOCK_DURATION_MS
          : this.config.USAGE_LOCK_DURATION_MS;
      const worker = new Worker(queueName, (job) => this.process(queueName, job), {
        connection: this.openBullConnection(),
        prefix,
        // Usage: the batches of the groups being metered, and of one group more waiting to start.
        concurrency:
          queueName === QueueName.Usage
            ? (this.config.USAGE_WORKER_CONCURRENCY + 1) * this.config.USAGE_BATCHES_PER_GROUP
            : (settings.concurrency ?? 1),
        lockDuration,
        stalledInterval: Math.min(settings.stalledIntervalMs, lockDuration),
        maxStalledCount: settings.maxStalledCount,
        settings: {
          backoffStrategy: (attemptsMade: number) =>
            cappedBackoff(attemptsMade, settings.backoffBaseMs, settings.backoffCapMs),
        },
      });
      worker.on('failed', (job, error) => {
        this.metrics.batchFailures.inc({ stage: queueName });
        this.logger.warn(`job ${job?.name} ${job?.id} attempt ${job?.attemptsMade} failed: ${error.message}`);
      });
      logQueueErrors(worker, `worker ${queueName}`);
      this.workers.push(worker);
    }
    if (!this.queueNames.includes(QueueName.Maintenance)) return;
    this.maintenanceQueue = new Queue(QueueName.Maintenance, {
      connection: this.openBullConnection(),
      prefix,
      ...QUEUE_OPTIONS,
    });
    logQueueErrors(this.maintenanceQueue, `queue ${QueueName.Maintenance}`);
    const schedule = this.maintenanceSchedule();
    if (schedule.some(([, every]) => every > 0)) {
      await this.scheduleMaintenance();
      // Upserting is idempotent; repeating it brings the schedule back after Redis lost it.
      this.scheduleTimer = setInterval(
        () => void this.scheduleMaintenance().catch((error: Error) => this.logger.warn(error.message)),
        60_000,
      ).unref();
    }
    // A scheduler outlives the process in Redis: turning a job off must remove one left by an earlier run.
    for (const [name, every] of schedule) {
      if (every === 0) await this.maintenanceQueue.removeJobScheduler(name);
    }
  }

  private openBullConnection(): RedisClient {
    const connection = openBullRedis(this.config);
    this.bullConnections.push(connection);
    return connection;
  }

  /** The maintenance jobs and their intervals (0: not scheduled). */
  private maintenanceSchedule() {
    return [
      [JobName.ReconcileBalances, this.config.RECONCILE_INTERVAL_MS],
      [JobName.PruneAuditLog, this.config.AUDIT_PRUNE_INTERVAL_MS],
      // Statements of the previous month are issued by the first run after the 1st's grace
      // period; hourly runs catch up a missed one (a month is invoiced once however often it runs).
      [JobName.IssueUsageStatements, this.config.INVOICE_STATEMENT_INTERVAL_MS],
      [JobName.MarkOverdueInvoices, this.config.INVOICE_OVERDUE_INTERVAL_MS],
      [JobName.PruneInvoiceExports, this.config.INVOICE_EXPORT_PRUNE_INTERVAL_MS],
      [JobName.SweepAutoReloads, this.config.AUTO_RELOAD_SWEEP_INTERVAL_MS],
    ] as const;
  }

  /** Upserting with an unchanged interval keeps the next run time, so the minutely re-upsert never delays it. */
  private async scheduleMaintenance(): Promise<void> {
    const schedule = this.maintenanceSchedule();
    for (const [name, every] of schedule) {
      if (every === 0) continue;
      await this.maintenanceQueue!.upsertJobScheduler(
        name,
        { every },
        { name, data: {}, opts: QUEUE_SETTINGS[QueueName.Maintenance].jobOptions },
      );
    }
  }

  /**
   * Graceful: a worker's close waits for the jobs in hand (see closeWorker for the Redis outage
   * that used to make it wait forever). Closing still needs Redis, for those jobs' completions
   * and for QUIT: while Redis is away it waits, so each close gets CLOSE_DEADLINE_MS, past which
   * shutdown goes on without it and the process exits. A job it held is then taken up again as
   * stalled, and every step of a job is safe to repeat.
   */
  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.scheduleTimer);
    await Promise.all(
      this.workers.map((worker) => this.closeWithin(`worker ${worker.name}`, closeWorker(worker))),
    );
    await Promise.all(
      [this.maintenanceQueue, ...this.countedQueues]
        .filter((queue) => queue !== undefined)
        .map((queue) => this.closeWithin(`queue ${queue.name}`, queue.close())),
    );
    // BullMQ left them open. Those of a Worker or Queue still closing past its deadline go too: the
    // process is going away regardless.
    await Promise.all(this.bullConnections.map(closeRedis));
    this.countsRedis?.disconnect();
  }

  private async closeWithin(what: string, closing: Promise<void>): Promise<void> {
    try {
      await withDeadline(closing, CLOSE_DEADLINE_MS);
    } catch (error) {
      // No forcing it: BullMQ's close(true) returns the close already under way, and a forced
      // disconnect waits for the same 'end' event.
      this.logger.warn(
        `${what} did not close within ${CLOSE_DEADLINE_MS} ms (${String(error)}); going on without it`,
      );
    }
  }

  private async process(queueName: QueueName, job: Job): Promise<unknown> {
    const name = job.name as JobName;
    const handler = this.handlers[name] as
      ((payload: unknown, attempt: JobAttempt) => Promise<unknown>) | undefined;
    if (!handler || QUEUE_OF_JOB[name] !== queueName) {
      throw new UnrecoverableError(`no handler for job ${job.name} on queue ${queueName}`);
    }
    // attemptsMade counts finished attempts, so this one is attemptsMade + 1.
    return handler(job.data, {
      attempt: job.attemptsMade + 1,
      lastAttempt: job.attemptsMade + 1 >= (job.opts.attempts ?? 1),
      // A stall (lock expired, e.g. the process was killed) redelivers without counting an attempt.
      firstDelivery: job.attemptsMade === 0 && job.stalledCounter === 0,
    });
  }
}
