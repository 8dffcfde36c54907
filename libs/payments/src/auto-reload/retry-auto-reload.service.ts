import { DATABASE, DatabaseHandle } from '@app/db';
import { BalanceStore, crossingOfToken, newChangeToken } from '@app/ledger';
import { autoReloadJobId } from '@app/queue';
import { Inject, Injectable } from '@nestjs/common';
import { AutoReloadJobs } from './auto-reload-jobs.service';

/**
 * The ledger key of the retry of an account's last crossing. One retry per crossing: a request
 * that is retried, or two fixes at once, find the same key.
 */
export function autoReloadRetryLedgerKey(accountId: string, lastCrossing: number): string {
  return `auto-reload-retry:${accountId}:${lastCrossing}`;
}

/**
 * Reloads once after the cause of a failed auto-reload is fixed while the balance is still below
 * the threshold. Usage alone never would: after a declined, unauthenticated or skipped reload,
 * every deduction starts below the threshold, disarmed, until credits lift it above.
 *
 * Called after a change that may be such a fix commits (a new default card, settings saved), and
 * by the auto-reload sweep for a skip for the monthly cap, which a new UTC month fixes. The
 * new crossing is decided in Redis with the account's deductions (retry-auto-reload.lua), so a
 * retry racing usage or another retry makes at most one; it takes the next crossing number there,
 * and follows the reserve -> commit -> settle protocol: Postgres records its token in a ledger row
 * of amount 0 keyed by the crossing it retries (which also carries the number into the seed of a
 * balance Redis lost), then the reload job is added under the new crossing's id, the Stripe
 * idempotency key of its charge. A request that died on the way is finished by its retry: the
 * pending entry or the ledger row is found again, and a committed crossing without a purchase
 * gets its job added again (same id: never a second one).
 */
@Injectable()
export class RetryAutoReloadService {
  constructor(
    @Inject(DATABASE) private readonly database: DatabaseHandle,
    private readonly balances: BalanceStore,
    private readonly jobs: AutoReloadJobs,
  ) {}

  /** The crossing whose reload was queued, or null when no reload is owed now. */
  async afterFix(accountId: string): Promise<number | null> {
    const threshold = await this.thresholdIfReloading(accountId);
    if (threshold === null) return null;
    const last = await this.lastCrossing(accountId);
    // Never crossed: nothing failed to retry (turning auto-reload on below the threshold waits, as
    // before, for the balance to go above it and cross).
    if (last === 0) return null;
    const { sql } = this.database;
    const [purchase] = await sql<{ status: string }[]>`
      select status from credit_purchases
      where account_id = ${accountId} and request_key = ${autoReloadJobId(accountId, last)}`;
    if (!purchase) {
      // Its reload has not opened yet: queued, its job lost by a crash before it was added, or
      // failed (every attempt to open it did, e.g. during a Postgres outage): retried then.
      await this.jobs.ensure(accountId, last);
      return null;
    }
    if (purchase.status === 'pending') {
      // In flight; or left pending by a job that gave up: retried, it settles from what Stripe
      // holds of the crossing (and so does the sweep, SweepAutoReloadsService).
      if (!(await this.jobs.isLive(accountId, last))) await this.jobs.ensure(accountId, last);
      return null;
    }
    // A reload that went through but left the balance below: another only if usage would make one now.
    const failedCrossing = purchase.status === 'succeeded' ? null : last;
    return this.crossAgain(accountId, threshold, last, failedCrossing);
  }

  /**
   * Reloads once when the last crossing's reload was skipped for the monthly cap in an earlier UTC
   * month: the cap has reset, but usage below the threshold never crosses again. Called by the
   * auto-reload sweep, as often as it likes: the retry's ledger key (one per skipped crossing) and
   * the crossing number taken in Redis make one reload, and a run that finds the retry committed
   * but its crossing without a purchase adds the job again (the previous run died before adding it).
   */
  async afterCapReset(accountId: string): Promise<number | null> {
    const threshold = await this.thresholdIfReloading(accountId);
    if (threshold === null) return null;
    const last = await this.lastCrossing(accountId);
    if (last === 0) return null;
    const { sql } = this.database;
    // The database's clock, as the cap itself is counted (ChargeAutoReloadService).
    const [purchase] = await sql<{ capped_before_this_month: boolean }[]>`
      select status = 'canceled' and failure_code = 'monthly_cap_reached'
             and created_at < date_trunc('month', now(), 'UTC') as capped_before_this_month
      from credit_purchases
      where account_id = ${accountId} and request_key = ${autoReloadJobId(accountId, last)}`;
    if (!purchase) {
      await this.jobs.ensure(accountId, last);
      return null;
    }
    if (!purchase.capped_before_this_month) return null;
    return this.crossAgain(accountId, threshold, last, last);
  }

  /**
   * Reloads once on the new default card after `crossing`'s reload met its card removed (Stripe
   * detaches a card before remove() records it, so the removal's own afterFix may have found that
   * reload still in flight). Only while `crossing` is the last: a call repeated after its retry
   * committed re-adds that retry's job (the earlier call may have died before adding it) and
   * never retries a newer crossing's outcome.
   */
  async afterCardRemoved(accountId: string, crossing: number): Promise<number | null> {
    const threshold = await this.thresholdIfReloading(accountId);
    if (threshold === null) return null;
    const last = await this.lastCrossing(accountId);
    if (last === crossing) return this.crossAgain(accountId, threshold, last, last);
    const [retry] = await this.database.sql<{ redis_token: string }[]>`
      select redis_token from ledger_entries
      where idempotency_key = ${autoReloadRetryLedgerKey(accountId, crossing)}`;
    const retried = retry ? crossingOfToken(retry.redis_token) : null;
    if (retried !== null) await this.jobs.ensure(accountId, retried);
    return null;
  }

  /** The threshold of an account whose auto-reload may charge now (on, not paused, with a card). */
  private async thresholdIfReloading(accountId: string): Promise<bigint | null> {
    const [settings] = await this.database.sql<{ threshold_micros: bigint }[]>`
      select s.threshold_micros from auto_reload_settings s
      join accounts a on a.id = s.account_id and a.billing_mode <> 'invoice'
      where s.account_id = ${accountId} and s.enabled and s.paused_at is null
        and exists (select 1 from payment_methods p
                    where p.account_id = s.account_id and p.is_default and p.detached_at is null)`;
    return settings?.threshold_micros ?? null;
  }

  /** The account's last crossing that Postgres committed (0: none). */
  private async lastCrossing(accountId: string): Promise<number> {
    // The partial index ledger_entries_reload_crossings_idx serves this, as it does the balance seed.
    const [{ last }] = await this.database.sql<{ last: number }[]>`
      select coalesce(max(split_part(redis_token, '#', 2)::bigint), 0)::int as last from ledger_entries
      where account_id = ${accountId} and redis_token like '%#%'`;
    return last;
  }

  /**
   * Takes a new crossing after `last` if the balance is below the threshold (and no crossing was
   * numbered since `failedCrossing`, or auto-reload is armed), commits it and adds its job.
   */
  private async crossAgain(
    accountId: string,
    thresholdMicros: bigint,
    last: number,
    failedCrossing: number | null,
  ): Promise<number | null> {
    const changeKey = autoReloadRetryLedgerKey(accountId, last);
    const reserved = await this.balances.reserveReloadRetry({
      accountId,
      changeKey,
      token: newChangeToken(),
      thresholdMicros,
      failedCrossing,
    });
    if (reserved.status === 'none') return null;
    const token = await this.record(accountId, changeKey, reserved.token, last);
    await this.balances.settle([{ accountId, changeKey, committedToken: token, committedDelta: 0n }]);
    const crossing = crossingOfToken(token);
    if (crossing !== null) await this.jobs.ensure(accountId, crossing);
    return crossing;
  }

  /** The token Postgres holds for the retry: this attempt's, or the one that committed first. */
  private async record(
    accountId: string,
    ledgerKey: string,
    token: string,
    retried: number,
  ): Promise<string> {
    const { sql } = this.database;
    const source = { reason: 'auto_reload_retry', retries_crossing: retried };
    const [inserted] = await sql<{ redis_token: string }[]>`
      insert into ledger_entries (account_id, kind, amount_micros, idempotency_key, redis_token, source)
      values (${accountId}, 'adjustment', 0, ${ledgerKey}, ${token}, ${sql.json(source)})
      on conflict (idempotency_key) do nothing
      returning redis_token`;
    if (inserted) return inserted.redis_token;
    const [existing] = await sql<{ redis_token: string }[]>`
      select redis_token from ledger_entries where idempotency_key = ${ledgerKey}`;
    return existing.redis_token;
  }
}
