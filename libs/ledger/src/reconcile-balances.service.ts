import { DATABASE, DatabaseHandle } from '@app/db';
import { BillingMetrics } from '@app/metrics';
import { formatUsd } from '@app/money';
import { REDIS, RedisClient, RedisKeys, sendEach } from '@app/redis';
import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { BalanceStore, Settlement } from './balance-store';
import { DEAD_USAGE_RESERVATION_AFTER_MS, UsageJobPresence } from './dead-usage-reservations';
import {
  CommittedChange,
  committedChangeOf,
  expectedBalance,
  ledgerKeysOf,
  parseBalanceState,
  PendingEntry,
  RedisBalanceState,
} from './expected-balance';
import { defineLedgerScripts } from './ledger-scripts';

const PAGE_SIZE = 1000;
/** Comparisons of an account whose repair finds it changed since the read, in one pass. */
const COMPARE_ROUNDS = 3;

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
  /**
   * Accounts whose Redis balance differed from what Postgres says it must be, given the changes
   * pending in Redis (expectedBalance), and was repaired: a difference whose repair found the
   * account changed meanwhile (in every comparison) counts as busy.
   */
  drifted: number;
  driftMicros: bigint;
  repaired: number;
  /**
   * Accounts with changes in flight (compared against what those changes will settle to), or
   * that kept changing between the reads of every comparison; the next pass looks again.
   */
  busy: number;
  /**
   * Pending changes whose settle never ran, settled by this pass as their own attempt would have
   * (see settleOrphans); their accounts are compared with Postgres from the next pass on.
   */
  orphansSettled: number;
  /**
   * Usage reservations Postgres never committed whose batch can never be charged again (see
   * dropDeadReservations), undone by this pass: their usage is lost, their hold on the balance ends.
   */
  reservationsDropped: number;
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
    reservations_dropped: report.reservationsDropped,
  };
}

/**
 * Compares each account's Redis balance with Postgres (the system of record) and repairs drift,
 * accounts with changes in flight too: a busy account would otherwise never be repaired.
 * Drift only arises when Redis loses data (pending entries, or a balance reseeded from Postgres
 * while a batch was between its deduction and its commit). Order matters: Redis is read first
 * (balance, `gen` and pending entries in one script), then Postgres in one snapshot, then the
 * repair moves the balance by the drift with a compare-and-set on `gen` (repair-balance.lua), so
 * a change that lands in between is never overwritten with an older figure (expectedBalance).
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
    private readonly usageJobs: UsageJobPresence,
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
      reservationsDropped: 0,
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
    // Set together with the pass's time: alerts read the drift of whichever process passed last.
    this.metrics.driftMicros.set(Number(report.driftMicros));
    this.metrics.driftAccounts.set(report.drifted);
    this.metrics.reconcileLastPass.set(Date.now() / 1000);
    this.metrics.reconcileRuns.inc();
    if (report.drifted > 0) {
      this.logger.warn(
        `balance drift on ${report.drifted} account(s), ${report.driftMicros} micros in all; repaired ${report.repaired}`,
      );
    }
    return report;
  }

  private async reconcilePage(accountIds: string[], report: ReconcileReport): Promise<void> {
    report.accountsChecked += accountIds.length;
    // An account whose repair found it changed meanwhile is compared again at once (a hot account
    // changes often, but seldom in every short window). Drift is what a repair confirmed: a
    // difference seen across a change that landed between the reads may be that change alone.
    let unsettled = new Set<string>();
    let repaired = 0;
    let first: { states: RedisBalanceState[]; snapshot: PostgresSnapshot } | undefined;
    let comparing = accountIds;
    for (let round = 1; comparing.length > 0 && round <= COMPARE_ROUNDS; round++) {
      const states = await this.readRedis(comparing);
      // Postgres is read after Redis: see expectedBalance.
      const snapshot = await this.readPostgres(states);
      first ??= { states, snapshot };
      const repairing: { id: string; gen: string; drift: bigint }[] = [];
      for (const state of states) {
        const postgres = snapshot.balances.get(state.accountId);
        if (postgres === undefined) continue;
        const drift = state.balance - expectedBalance(state, postgres, snapshot.committed);
        if (drift !== 0n) repairing.push({ id: state.accountId, gen: state.gen, drift });
      }
      const outcomes = (await sendEach(
        this.redis,
        repairing,
        ({ id }) => this.keys.balance(id),
        (commands, { id, gen, drift }) =>
          commands.repairBalance(this.keys.balance(id), gen, (-drift).toString()),
      )) as string[];
      comparing = [];
      repairing.forEach(({ id, drift }, index) => {
        if (outcomes[index] === 'missing') return; // lost since the read: the next use loads it
        if (outcomes[index] !== 'repaired') {
          comparing.push(id);
          return;
        }
        repaired++;
        report.drifted++;
        report.driftMicros += drift < 0n ? -drift : drift;
      });
      unsettled = new Set(comparing);
    }
    report.repaired += repaired;
    this.metrics.reconcileRepairs.inc(repaired);
    if (!first) return;
    const busy = first.states.filter((state) => state.pending.length > 0);
    // Busy: changes in flight when read, or still moving after every comparison (the next pass
    // looks again).
    report.busy += new Set([...busy.map((state) => state.accountId), ...unsettled]).size;
    if (busy.length > 0) await this.settleOrphans(busy, first.snapshot.committed, report);
  }

  /** Each account's balance, `gen` and pending entries in Redis, read atomically per account. */
  private async readRedis(accountIds: string[]): Promise<RedisBalanceState[]> {
    const replies = (await sendEach(
      this.redis,
      accountIds,
      (id) => this.keys.balance(id),
      (commands, id) => commands.readBalanceState(this.keys.balance(id), this.keys.pending(id)),
    )) as (string | null)[][];
    return accountIds.flatMap((id, index) => parseBalanceState(id, replies[index]) ?? []);
  }

  /** Balances, and the ledger rows of the pending changes, from one Postgres snapshot. */
  private async readPostgres(states: RedisBalanceState[]): Promise<PostgresSnapshot> {
    const accountIds = states.map((state) => state.accountId);
    const ledgerKeys = states.flatMap((state) =>
      state.pending.flatMap((entry) => ledgerKeysOf(state.accountId, entry.changeKey)),
    );
    if (accountIds.length === 0) return { balances: new Map(), committed: new Map() };
    return this.database.sql.begin('isolation level repeatable read read only', async (tx) => {
      const balances = await tx<{ account_id: string; balance_micros: bigint }[]>`
        select account_id, sum(balance_micros)::bigint as balance_micros from account_balances
        where account_id = any(${accountIds}::uuid[]) group by account_id`;
      const rows =
        ledgerKeys.length === 0
          ? []
          : await tx<
              { account_id: string; idempotency_key: string; amount_micros: bigint; redis_token: string }[]
            >`
              select account_id, idempotency_key, amount_micros, coalesce(redis_token, '') as redis_token
              from ledger_entries where idempotency_key = any(${ledgerKeys}::text[])`;
      return {
        balances: new Map(balances.map((row) => [row.account_id, row.balance_micros])),
        committed: new Map(
          rows.map((row) => [
            row.idempotency_key,
            {
              accountId: row.account_id,
              ledgerKey: row.idempotency_key,
              amountMicros: row.amount_micros,
              redisToken: row.redis_token,
            },
          ]),
        ),
      };
    });
  }

  /**
   * A pending change whose settle never runs leaves its entry in Redis for good: a Redis failover
   * that lost the settle of a committed batch while its job's completion survived on another
   * node, an API process that died between a credit grant's commit and its settle, or a grant
   * whose commit failed (Postgres unreachable), when the client never retried. Entries no attempt
   * reached for `orphanedAfterMs` (by their "|t" field, or their token's time) are settled here
   * the way a redelivered attempt would settle them, with what Postgres committed under their
   * ledger key: a committed change counts (or is undone if an attempt after the commit made the
   * entry), a credit that never committed (applied 0) is dropped. A usage reservation Postgres
   * never committed is left alone: its job may still be retrying (it is settled when it commits),
   * or it failed and waits to be retried by hand (`npm run failed-jobs`); once it is provably dead
   * it is undone (dropDeadReservations). Unlike the worker's settle, this one adds nothing to
   * API-key spend counters and leaves budget counters as reserve left them: a key's limit misses
   * such a batch's spend until its period ends, a budget counts the batch's duplicates too. A job retrying for longer (a Postgres outage) reaches its entry
   * at each attempt, so it is never taken for an orphan and settles it itself.
   */
  private async settleOrphans(
    states: RedisBalanceState[],
    committed: ReadonlyMap<string, CommittedChange>,
    report: ReconcileReport,
  ): Promise<void> {
    const now = Date.now();
    const settlements: Settlement[] = [];
    const reservations: UncommittedReservation[] = [];
    for (const state of states) {
      for (const entry of state.pending) {
        if (entry.lastTouchedAt === null || now - entry.lastTouchedAt < this.orphanedAfterMs) continue;
        const row = committedChangeOf(state, entry, committed);
        if (!row && entry.appliedDelta !== 0n) {
          if (now - entry.lastTouchedAt >= DEAD_USAGE_RESERVATION_AFTER_MS)
            reservations.push({ accountId: state.accountId, entry });
          continue;
        }
        settlements.push({
          accountId: state.accountId,
          changeKey: entry.changeKey,
          committedToken: row?.redisToken ?? '',
          committedDelta: row?.amountMicros ?? 0n,
        });
      }
    }
    if (reservations.length > 0) await this.dropDeadReservations(reservations, report);
    if (settlements.length === 0) return;
    const settled = (await this.balanceStore.settle(settlements)).filter(Boolean).length;
    if (settled === 0) return;
    report.orphansSettled += settled;
    this.metrics.reconcileOrphansSettled.inc(settled);
    this.logger.warn(
      `settled ${settled} pending change(s) whose settle never ran (older than ${this.orphanedAfterMs} ms)`,
    );
  }

  /**
   * A usage reservation whose batch failed for good and whose failed job BullMQ removed (kept 7
   * days) has no attempt left to settle it, nor does a group's whose record expired (a retried
   * batch is then charged alone, under its own id): without this it would hold the account's
   * Redis balance below Postgres for good, while counting as a legitimate pending change
   * (expectedBalance), so no drift shows. It is undone, as its settle would undo a change never
   * committed, only when provably dead: no attempt reached it for DEAD_USAGE_RESERVATION_AFTER_MS,
   * no job exists under its id (a batch's, in any state: a failed one can still be retried), and,
   * read after that lookup, Postgres holds no row for it (a job that completed and was removed
   * between this pass's reads committed first). No job under an id can come back, and no attempt
   * runs without its job, so nothing can commit it afterwards.
   */
  private async dropDeadReservations(reservations: UncommittedReservation[], report: ReconcileReport) {
    const withJobs = await this.usageJobs.withJobs([...new Set(reservations.map((r) => r.entry.changeKey))]);
    const jobless = reservations.filter((r) => !withJobs.has(r.entry.changeKey));
    if (jobless.length === 0) return;
    const committedNow = await this.committedKeys(jobless);
    const dead = jobless.filter((r) => !committedNow.has(`${r.accountId}/${r.entry.changeKey}`));
    const settled = await this.balanceStore.settle(
      dead.map((r) => ({
        accountId: r.accountId,
        changeKey: r.entry.changeKey,
        committedToken: '',
        committedDelta: 0n,
      })),
    );
    dead.forEach(({ accountId, entry }, index) => {
      if (!settled[index]) return; // settled meanwhile (another pass)
      report.reservationsDropped++;
      this.metrics.reconcileOrphansDropped.inc();
      // Usage accepted and now never charged (the failed batch's events): ops need its names.
      this.logger.warn(
        `undid usage reservation ${entry.changeKey} of account ${accountId}, ${formatUsd(-entry.appliedDelta)} USD ` +
          `(${entry.appliedDelta} micros): never committed, no job left to charge it, ` +
          `no attempt since ${new Date(entry.lastTouchedAt!).toISOString()}`,
      );
    });
  }

  /** "<account>/<change key>" of the reservations Postgres has a ledger row for now. */
  private async committedKeys(reservations: UncommittedReservation[]): Promise<Set<string>> {
    const ledgerKeys = reservations.flatMap((r) => ledgerKeysOf(r.accountId, r.entry.changeKey));
    const rows = await this.database.sql<{ account_id: string; idempotency_key: string }[]>`
      select account_id, idempotency_key from ledger_entries where idempotency_key = any(${ledgerKeys}::text[])`;
    const committed = new Map(
      rows.map((row) => [
        row.idempotency_key,
        { accountId: row.account_id, ledgerKey: row.idempotency_key, amountMicros: 0n, redisToken: '' },
      ]),
    );
    return new Set(
      reservations
        .filter((r) => committedChangeOf({ accountId: r.accountId }, r.entry, committed))
        .map((r) => `${r.accountId}/${r.entry.changeKey}`),
    );
  }
}

interface UncommittedReservation {
  accountId: string;
  entry: PendingEntry;
}

interface PostgresSnapshot {
  balances: Map<string, bigint>;
  /** Ledger rows of pending changes, by idempotency key. */
  committed: Map<string, CommittedChange>;
}
