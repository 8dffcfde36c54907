import { DATABASE, DatabaseHandle } from '@app/db';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { RetryAutoReloadService } from './retry-auto-reload.service';

/** Accounts read per query; a run goes on until it has seen them all. */
const PAGE = 100;

/**
 * Reloads accounts whose last auto-reload was skipped for the monthly cap in an earlier UTC month
 * and whose balance is still below the threshold. Nothing else would: no deduction crosses while
 * the balance stays below, so without this the account runs out in the new month with its cap
 * reset and its card never charged. Each account goes through RetryAutoReloadService, which
 * makes one crossing per skipped one however often, or however concurrently, this runs. Run by
 * the auto-reload sweep (SweepAutoReloadsService).
 */
@Injectable()
export class ReloadAfterCapResetService {
  private readonly logger = new Logger(ReloadAfterCapResetService.name);

  constructor(
    @Inject(DATABASE) private readonly database: DatabaseHandle,
    private readonly retries: RetryAutoReloadService,
  ) {}

  /** Every due account is tried; one that fails is logged and tried again by the next run. */
  async reloadDue(): Promise<{ reloaded: number; failed: number }> {
    let reloaded = 0;
    let failed = 0;
    // Keyset pages, so accounts that stay due (their balance recovered in Redis first) never hide others.
    let after = '00000000-0000-0000-0000-000000000000';
    for (;;) {
      const due = await this.duePage(after);
      for (const accountId of due) {
        try {
          if ((await this.retries.afterCapReset(accountId)) !== null) reloaded += 1;
        } catch (error) {
          failed += 1;
          this.logger.warn(`auto-reload after the cap reset of ${accountId}: ${(error as Error).message}`);
        }
      }
      if (due.length < PAGE) break;
      after = due[due.length - 1];
    }
    if (reloaded > 0) this.logger.log(`reloaded ${reloaded} account(s) whose monthly cap has reset`);
    return { reloaded, failed };
  }

  /**
   * Accounts that may reload now (on, not paused, with a card, prepaid) whose latest auto-reload
   * was skipped for the cap before this UTC month and whose committed balance is below the
   * threshold. A skip of this month is left alone: the cap still holds.
   */
  private async duePage(after: string): Promise<string[]> {
    const rows = await this.database.sql<{ account_id: string }[]>`
      select s.account_id from auto_reload_settings s
      join accounts a on a.id = s.account_id and a.billing_mode <> 'invoice'
      cross join lateral (
        select p.status, p.failure_code, p.created_at from credit_purchases p
        where p.account_id = s.account_id and p.kind = 'auto_reload'
        order by p.created_at desc limit 1) latest
      where s.account_id > ${after} and s.enabled and s.paused_at is null
        and latest.status = 'canceled' and latest.failure_code = 'monthly_cap_reached'
        and latest.created_at < date_trunc('month', now(), 'UTC')
        and exists (select 1 from payment_methods m
                    where m.account_id = s.account_id and m.is_default and m.detached_at is null)
        and (select sum(b.balance_micros) from account_balances b where b.account_id = s.account_id)
            < s.threshold_micros
      order by s.account_id limit ${PAGE}`;
    return rows.map((row) => row.account_id);
  }
}
