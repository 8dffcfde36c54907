import { DATABASE, DatabaseHandle } from '@app/db';
import { BillingMetrics } from '@app/metrics';
import { formatUsd } from '@app/money';
import { REDIS, RedisClient, RedisKeys, sendEach } from '@app/redis';
import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { BalanceStore, Settlement } from './balance-store';
import { changeTokenCreatedAt, usageLedgerKey } from './change-token';
import { defineLedgerScripts } from './ledger-scripts';

const PAGE_SIZE = 1000;

/**
 * How long no attempt must have reached a pending change before the reconciler settles it itself.
 * Far longer than any live attempt takes between its reserve and its settle (a usage batch is
 * failed and retried after USAGE_JOB_TIMEOUT_MS, and each retry reaches the entry again; a credit
 * grant is one HTTP request), so no attempt is still on its way to settle it.
 */
export const ORPHANED_CHANGE_AFTER_MS = Symbol('ORPHANED_CHANGE_AFTER_MS');
const DEFAULT_ORPHANED_CHANGE_AFTER_MS = 15 * 60_000;

export interface ReconcileReport {
  accountsChecked: number;
  /** Accounts whose Redis balance differed from Postgres while nothing was pending. */
  drifted: number;
  driftMicros: bigint;
  repaired: number;
  /** Accounts skipped because a change was in flight; the next pass looks again. */
  busy: number;
  /**
   * Pending changes whose settle never ran, settled by this pass as their own attempt would have
   * (see settleOrphans); their accounts are compared with Postgres from the next pass on.
   */
  orphansSettled: number;
}

/** The report as the admin API and `npm run reconcile` print it. */
export function reconcileReportJson(report: ReconcileReport) {
  return {
    accounts_checked: report.accountsChecked,
    drifted: report.drifted,
    drift: formatUsd(report.driftMicros),
    repaired: report.repaired,
    busy: report.busy,
    orphans_settled: report.orphansSettled,
  };
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
    private readonly balanceStore: BalanceStore,
    @Optional()
    @Inject(ORPHANED_CHANGE_AFTER_MS)
    private readonly orphanedAfterMs: number = DEFAULT_ORPHANED_CHANGE_AFTER_MS,
  ) {
    defineLedgerScripts(redis);
  }

  async reconcileAll(): Promise<ReconcileReport> {
    const report: ReconcileReport = {
      accountsChecked: 0,
      drifted: 0,
      driftMicros: 0n,
      repaired: 0,
      busy: 0,
      orphansSettled: 0,
    };
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
    const busy: string[] = [];
    accountIds.forEach((id, index) => {
      const [bal, gen, pending] = replies[index] as [string | null, string | null, number];
      const truth = postgres.get(id);
      report.accountsChecked++;
      if (bal === null || truth === undefined) return; // not loaded: the next use loads it from Postgres
      if (pending > 0) {
        report.busy++;
        busy.push(id);
        return;
      }
      const drift = BigInt(bal) - truth;
      if (drift === 0n) return;
      report.drifted++;
      report.driftMicros += drift < 0n ? -drift : drift;
      repairing.push({ id, gen: gen ?? '0', truth });
    });
    if (busy.length > 0) await this.settleOrphans(busy, report);
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

  /**
   * A pending change keeps its account out of reconciliation until its settle runs. A settle that
   * never runs leaves it there for good: a Redis failover that lost the settle of a committed
   * batch while its job's completion survived on another node, an API process that died between
   * a credit grant's commit and its settle, or a grant whose commit failed (Postgres unreachable),
   * when the client never retried. Entries no attempt reached for `orphanedAfterMs` (by their "|t"
   * field, or their token's time) are settled here the way a redelivered attempt would settle
   * them, with what Postgres committed under their ledger key: a committed change counts (or is
   * undone if an attempt after the commit made the entry), a credit that never committed
   * (applied 0) is dropped. A usage reservation Postgres never committed is left alone:
   * its job may still be retrying (it is settled when it commits), or it failed and waits to be
   * retried by hand (`npm run failed-jobs`). Unlike the worker's settle, this one adds nothing to
   * API-key spend counters and leaves budget counters as reserve left them: a key's limit misses
   * such a batch's spend until its period ends, a budget counts the batch's duplicates too. A job
   * retrying for longer (a Postgres outage) reaches its entry at each attempt, so it is never taken
   * for an orphan and settles it itself.
   */
  private async settleOrphans(accountIds: string[], report: ReconcileReport): Promise<void> {
    const hashes = (await sendEach(
      this.redis,
      accountIds,
      (id) => this.keys.pending(id),
      (commands, id) => commands.hgetall(this.keys.pending(id)),
    )) as Record<string, string>[];
    const now = Date.now();
    const orphans: { accountId: string; changeKey: string; appliedDelta: bigint }[] = [];
    accountIds.forEach((accountId, index) => {
      const hash = hashes[index];
      for (const [changeKey, entry] of Object.entries(hash)) {
        if (changeKey.includes('|')) continue; // side fields: "<change>|x", "<change>|k", "<change>|t"
        const match = /^(-?\d+):(.+)$/.exec(entry);
        const startedAt = match ? changeTokenCreatedAt(match[2]) : null;
        const touchedAt = hash[`${changeKey}|t`] ? Number(hash[`${changeKey}|t`]) : null;
        const lastTouchedAt = touchedAt === null ? startedAt : Math.max(touchedAt, startedAt ?? touchedAt);
        if (match && lastTouchedAt !== null && now - lastTouchedAt >= this.orphanedAfterMs)
          orphans.push({ accountId, changeKey, appliedDelta: BigInt(match[1]) });
      }
    });
    if (orphans.length === 0) return;
    // A usage change is keyed by its batch id, its ledger row by batch and account; other changes
    // (grants, purchases, refunds) by their ledger key itself.
    const ledgerKeysOf = (o: { accountId: string; changeKey: string }) => [
      o.changeKey,
      usageLedgerKey(o.changeKey, o.accountId),
    ];
    const rows = await this.database.sql<
      { idempotency_key: string; amount_micros: bigint; redis_token: string }[]
    >`
      select idempotency_key, amount_micros, coalesce(redis_token, '') as redis_token from ledger_entries
      where idempotency_key = any(${orphans.flatMap(ledgerKeysOf)}::text[])`;
    const committed = new Map(rows.map((row) => [row.idempotency_key, row]));
    const settlements: Settlement[] = [];
    for (const orphan of orphans) {
      const [row] = ledgerKeysOf(orphan).flatMap((key) => committed.get(key) ?? []);
      if (!row && orphan.appliedDelta !== 0n) continue;
      settlements.push({
        accountId: orphan.accountId,
        changeKey: orphan.changeKey,
        committedToken: row?.redis_token ?? '',
        committedDelta: row?.amount_micros ?? 0n,
      });
    }
    const settled = (await this.balanceStore.settle(settlements)).filter(Boolean).length;
    if (settled === 0) return;
    report.orphansSettled += settled;
    this.metrics.reconcileOrphansSettled.inc(settled);
    this.logger.warn(
      `settled ${settled} pending change(s) whose settle never ran (older than ${this.orphanedAfterMs} ms)`,
    );
  }
}
