import { DATABASE, DatabaseHandle } from '@app/db';
import { crossingOfAutoReloadJobId } from '@app/queue';
import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { PURCHASE_COLUMNS, PurchaseRecord } from '../purchase-records';
import { AutoReloadJobs } from './auto-reload-jobs.service';
import { ChargeAutoReloadService } from './charge-auto-reload.service';
import { ReloadAfterCapResetService } from './reload-after-cap-reset.service';

export interface AutoReloadSweepOptions {
  /** Reloads pending at least this long are swept, so their jobs' own retries go first. */
  ageMs: number;
}

/** Given by the worker only (PaymentsModule.forRoot), whose QueueWorkers schedules the sweep. */
export const AUTO_RELOAD_SWEEP = Symbol('AUTO_RELOAD_SWEEP');

/** Reloads looked at per sweep; the next sweep takes the rest. */
const SWEEP_BATCH = 100;

export type StaleReloadResolution =
  'job_runs' | 'settled' | 'processing' | 'stripe_unreachable' | 'job_retried';

/** What one sweep did: stale reloads by resolution, and reloads made because a monthly cap reset. */
export type AutoReloadSweepCounts = Partial<Record<StaleReloadResolution | 'reloaded_after_cap', number>>;

/**
 * Finishes auto-reloads that no job will finish: a row left pending after its job used up its
 * attempts (a charge processing throughout, a failure not recordable during a Postgres outage,
 * Stripe unreachable at the end) blocks the account's later reloads, since a retry after a fix
 * waits for it (RetryAutoReloadService) and the payment_failed webhook leaves auto-reloads to
 * their job. Stripe decides: the crossing's PaymentIntent, if any, settles it as the job would
 * have; with none, the crossing's job is retried (same id and Stripe key). Runs as a scheduled job
 * on the maintenance queue every AUTO_RELOAD_SWEEP_INTERVAL_MS (QueueWorkers); concurrent sweeps, a sweep racing
 * the job or the webhook, or a sweep killed half-way settle each crossing once (the outcome is
 * recorded under the purchase row's lock, the credit by its ledger key).
 *
 * Each run also reloads accounts left below the threshold by a crossing skipped for the monthly
 * cap in an earlier UTC month (ReloadAfterCapResetService): no deduction would cross again.
 */
@Injectable()
export class SweepAutoReloadsService {
  private readonly logger = new Logger(SweepAutoReloadsService.name);

  constructor(
    @Inject(DATABASE) private readonly database: DatabaseHandle,
    private readonly charges: ChargeAutoReloadService,
    private readonly jobs: AutoReloadJobs,
    private readonly afterCapReset: ReloadAfterCapResetService,
    @Optional() @Inject(AUTO_RELOAD_SWEEP) private readonly options: AutoReloadSweepOptions | null = null,
  ) {}

  async sweep(): Promise<AutoReloadSweepCounts> {
    // First: a stale reload that throws below must not keep accounts from their reload (this pass
    // only counts its failures).
    const capReset = await this.afterCapReset.reloadDue();
    const counts: AutoReloadSweepCounts = await this.settleStale();
    if (capReset.reloaded > 0) counts.reloaded_after_cap = capReset.reloaded;
    // Thrown after every account was tried, so the failed run shows (and the next one tries again).
    if (capReset.failed > 0)
      throw new Error(`${capReset.failed} auto-reload(s) after a monthly cap reset failed`);
    return counts;
  }

  private async settleStale(): Promise<Partial<Record<StaleReloadResolution, number>>> {
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
    const crossing = crossingOfAutoReloadJobId(purchase.request_key);
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
}
