import { APP_CONFIG, BaseEnv } from '@app/config';
import { DATABASE, DatabaseHandle } from '@app/db';
import { JobName, logQueueErrors, QUEUE_SETTINGS, QueueName } from '@app/queue';
import {
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnApplicationShutdown,
  Optional,
} from '@nestjs/common';
import { openRedis, RedisKeys } from '@app/redis';
import { Queue } from 'bullmq';
import { PURCHASE_COLUMNS, PurchaseRecord } from '../purchase-records';
import { AutoReloadJobs } from './auto-reload-jobs.service';
import { ChargeAutoReloadService } from './charge-auto-reload.service';

export interface AutoReloadSweepOptions {
  /** 0 disables the sweep. */
  intervalMs: number;
  /** Reloads pending at least this long are swept, so their jobs' own retries go first. */
  ageMs: number;
}

/** Given by the worker only (PaymentsModule.forRoot): the api process never schedules the sweep. */
export const AUTO_RELOAD_SWEEP = Symbol('AUTO_RELOAD_SWEEP');

/** Reloads looked at per sweep; the next sweep takes the rest. */
const SWEEP_BATCH = 100;

/** The crossing of an auto-reload's request key, auto-reload:<account>:<crossing>. */
function crossingOf(purchase: PurchaseRecord): number {
  return Number(purchase.request_key.split(':')[2]);
}

export type StaleReloadResolution =
  'job_runs' | 'settled' | 'processing' | 'stripe_unreachable' | 'job_retried';

/**
 * Finishes auto-reloads that no job will finish: a row left pending after its job used up its
 * attempts (a charge processing throughout, a failure not recordable during a Postgres outage,
 * Stripe unreachable at the end) blocks the account's later reloads, since a retry after a fix
 * waits for it (RetryAutoReloadService) and the payment_failed webhook leaves auto-reloads to
 * their job. Stripe decides: the crossing's PaymentIntent, if any, settles it as the job would
 * have; with none, the crossing's job is retried (same id and Stripe key). Runs as a scheduled job
 * on the maintenance queue every AUTO_RELOAD_SWEEP_INTERVAL_MS; concurrent sweeps, a sweep racing
 * the job or the webhook, or a sweep killed half-way settle each crossing once (the outcome is
 * recorded under the purchase row's lock, the credit by its ledger key).
 */
@Injectable()
export class SweepAutoReloadsService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(SweepAutoReloadsService.name);
  private timer: NodeJS.Timeout | undefined;
  private queue: Queue | null = null;

  constructor(
    @Inject(APP_CONFIG) private readonly config: BaseEnv,
    @Inject(DATABASE) private readonly database: DatabaseHandle,
    private readonly charges: ChargeAutoReloadService,
    private readonly jobs: AutoReloadJobs,
    @Optional() @Inject(AUTO_RELOAD_SWEEP) private readonly options: AutoReloadSweepOptions | null = null,
  ) {}

  async sweep(): Promise<Partial<Record<StaleReloadResolution, number>>> {
    const { sql } = this.database;
    const stale = await sql<PurchaseRecord[]>`
      select ${sql.unsafe(PURCHASE_COLUMNS)} from credit_purchases
      where kind = 'auto_reload' and status = 'pending'
        and created_at < now() - make_interval(secs => ${(this.options?.ageMs ?? 0) / 1000})
      order by created_at limit ${SWEEP_BATCH}`;
    const counts: Partial<Record<StaleReloadResolution, number>> = {};
    for (const purchase of stale) {
      const resolution = await this.resolve(purchase);
      counts[resolution] = (counts[resolution] ?? 0) + 1;
    }
    if (stale.length > 0)
      this.logger.log(`swept ${stale.length} pending auto-reload(s): ${JSON.stringify(counts)}`);
    return counts;
  }

  /** Finishes one pending auto-reload unless its job still will. */
  async resolve(purchase: PurchaseRecord): Promise<StaleReloadResolution> {
    const crossing = crossingOf(purchase);
    if (await this.jobs.isLive(purchase.account_id, crossing)) return 'job_runs';
    const settled = await this.charges.settleFromStripe(purchase, crossing);
    if (settled.intent === 'unknown') return 'stripe_unreachable';
    if (settled.intent === 'found') {
      const [row] = await this.database.sql<{ status: string }[]>`
        select status from credit_purchases where id = ${purchase.id}`;
      return row.status === 'pending' ? 'processing' : 'settled';
    }
    // Nothing reached Stripe: the crossing is still owed, and its job charges it under its key.
    await this.jobs.ensure(purchase.account_id, crossing);
    return 'job_retried';
  }

  async onApplicationBootstrap(): Promise<void> {
    if (!this.options) return;
    if (this.options.intervalMs === 0) {
      // A scheduler outlives the process in Redis: turning the sweep off must remove an earlier one.
      await this.maintenance().removeJobScheduler(JobName.SweepAutoReloads);
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
    await this.maintenance().upsertJobScheduler(
      JobName.SweepAutoReloads,
      { every: this.options!.intervalMs },
      {
        name: JobName.SweepAutoReloads,
        data: {},
        opts: { ...QUEUE_SETTINGS[QueueName.Maintenance].jobOptions, attempts: 1 },
      },
    );
  }

  /** The sweep is a maintenance job: a scheduler's next run waits in its queue, never in payments'. */
  private maintenance(): Queue {
    this.queue ??= new Queue(QueueName.Maintenance, {
      connection: openRedis(this.config),
      prefix: new RedisKeys(this.config.REDIS_PREFIX).bullPrefix(),
    });
    logQueueErrors(this.queue, `queue ${QueueName.Maintenance}`);
    return this.queue;
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.queue?.close();
  }
}
