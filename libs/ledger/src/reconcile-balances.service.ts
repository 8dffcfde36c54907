import { DATABASE, DatabaseHandle } from '@app/db';
import { BillingMetrics } from '@app/metrics';
import { REDIS, RedisClient, RedisKeys, sendEach } from '@app/redis';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { defineLedgerScripts } from './ledger-scripts';

const PAGE_SIZE = 1000;

export interface ReconcileReport {
  accountsChecked: number;
  /** Accounts whose Redis balance differed from Postgres while nothing was pending. */
  drifted: number;
  driftMicros: bigint;
  repaired: number;
  /** Accounts skipped because a change was in flight; the next pass looks again. */
  busy: number;
}

/**
 * Compares each account's Redis balance with Postgres (the system of record) and repairs drift.
 * Drift only arises when Redis loses pending entries (a restart between a deduction and its
 * settlement). Order matters: Redis is read first, then Postgres, then the repair is a
 * compare-and-set on Redis (repair-balance.lua), so a change that lands in between is never
 * overwritten with an older Postgres figure.
 */
@Injectable()
export class ReconcileBalancesService {
  private readonly logger = new Logger(ReconcileBalancesService.name);

  constructor(
    @Inject(DATABASE) private readonly database: DatabaseHandle,
    @Inject(REDIS) private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
    private readonly metrics: BillingMetrics,
  ) {
    defineLedgerScripts(redis);
  }

  async reconcileAll(): Promise<ReconcileReport> {
    const report: ReconcileReport = { accountsChecked: 0, drifted: 0, driftMicros: 0n, repaired: 0, busy: 0 };
    let after = '00000000-0000-0000-0000-000000000000';
    for (;;) {
      const page = await this.database.sql<{ account_id: string }[]>`
        select id as account_id from accounts where id > ${after} order by id limit ${PAGE_SIZE}`;
      if (page.length === 0) break;
      await this.reconcilePage(
        page.map((row) => row.account_id),
        report,
      );
      after = page[page.length - 1].account_id;
    }
    this.metrics.driftMicros.set(Number(report.driftMicros));
    this.metrics.driftAccounts.set(report.drifted);
    this.metrics.reconcileRuns.inc();
    if (report.drifted > 0) {
      this.logger.warn(
        `balance drift on ${report.drifted} account(s), ${report.driftMicros} micros in all; repaired ${report.repaired}`,
      );
    }
    return report;
  }

  private async reconcilePage(accountIds: string[], report: ReconcileReport): Promise<void> {
    const replies = await sendEach(
      this.redis,
      accountIds,
      (id) => this.keys.balance(id),
      (commands, id) => commands.readBalanceState(this.keys.balance(id), this.keys.pending(id)),
    );
    // Postgres is read after Redis: see the class comment.
    const rows = await this.database.sql<{ account_id: string; balance_micros: bigint }[]>`
      select account_id, sum(balance_micros)::bigint as balance_micros from account_balances
      where account_id = any(${accountIds}::uuid[]) group by account_id`;
    const postgres = new Map(rows.map((row) => [row.account_id, row.balance_micros]));

    const repairing: { id: string; gen: string; truth: bigint }[] = [];
    accountIds.forEach((id, index) => {
      const [bal, gen, pending] = replies[index] as [string | null, string | null, number];
      const truth = postgres.get(id);
      report.accountsChecked++;
      if (bal === null || truth === undefined) return; // not loaded: the next use loads it from Postgres
      if (pending > 0) {
        report.busy++;
        return;
      }
      const drift = BigInt(bal) - truth;
      if (drift === 0n) return;
      report.drifted++;
      report.driftMicros += drift < 0n ? -drift : drift;
      repairing.push({ id, gen: gen ?? '0', truth });
    });
    if (repairing.length === 0) return;
    const outcomes = (await sendEach(
      this.redis,
      repairing,
      ({ id }) => this.keys.balance(id),
      (commands, { id, gen, truth }) =>
        commands.repairBalance(this.keys.balance(id), this.keys.pending(id), gen, truth.toString()),
    )) as string[];
    const repaired = outcomes.filter((outcome) => outcome === 'repaired').length;
    report.repaired += repaired;
    this.metrics.reconcileRepairs.inc(repaired);
  }
}
