import { BillingMetrics } from '@app/metrics';
import { REDIS, RedisClient, RedisKeys, sendEach } from '@app/redis';
import { Inject, Injectable } from '@nestjs/common';
import { BalanceRepository, BalanceSeed } from './balance-repository';
import { defineLedgerScripts, ReserveReply } from './ledger-scripts';

export interface PendingChange {
  accountId: string;
  /** Names the cause, e.g. the usage batch id; unique per account. */
  changeKey: string;
  /** Micros applied in Redis now: negative for usage, 0 for credits that wait for Postgres. */
  appliedDelta: bigint;
  token: string;
  /** Auto-reload threshold of the account; the reply says whether this change crossed below it. */
  thresholdMicros?: bigint | null;
  /** Spending-alert detection for this change (libs/alerts); absent when the account has no alert rules. */
  alerts?: ChangeAlertRules;
}

/** One budget counter a change adds its spend to (a field of the balance hash, see reserve-change.lua). */
export interface AlertCounter {
  field: string;
  deltaMicros: bigint;
  /** Ascending; crossing one is recorded with its percent. */
  thresholds: ReadonlyArray<{ percent: number; amountMicros: bigint }>;
}

export interface ChangeAlertRules {
  lowBalanceMicros: bigint | null;
  /** The balance a change must start from to re-arm the low-balance alert. */
  rearmMicros: bigint | null;
  /** "YYYY-MM": counters of older months are dropped when a counter is seeded. */
  keepFromMonth: string;
  counters: readonly AlertCounter[];
  /** Each counter's spend so far from Postgres; asked for only when Redis has none. */
  seedCounters(): Promise<bigint[]>;
}

export interface ReservedChange {
  accountId: string;
  /** Token of the pending entry now in Redis: ours, or an earlier attempt's (status "exists"). */
  token: string;
  status: 'created' | 'exists';
  balanceBefore: bigint;
  balanceAfter: bigint;
  /** Auto-reload crossing number when this call moved the balance below the threshold (also in `token`). */
  crossing: number | null;
  /** What this change (or the earlier attempt that holds the pending entry) did for spending alerts; "" for nothing. */
  alertRecord: string;
}

export interface Settlement {
  accountId: string;
  changeKey: string;
  /** Token Postgres stored with the committed ledger row, "" when nothing was committed. */
  committedToken: string;
  committedDelta: bigint;
  /** Spend to add to API-key spend counters (Redis keys of this account) if the change settles as committed. */
  keySpend?: ReadonlyArray<{ counterKey: string; micros: bigint }>;
  /**
   * What Postgres committed for each budget counter of the change's alert record: if the change
   * settles as committed, a counter listed here ends at this spend instead of what reserve added,
   * and `unreached` (the committed spend did not reach the thresholds the change crossed, so no
   * alert was raised) lowers its reached level again, so a later change crosses them.
   */
  counterSpend?: ReadonlyArray<{ field: string; micros: bigint; unreached?: boolean }>;
}

/**
 * A pending entry whose settle would only remove it: committed under its own token, by exactly
 * its applied delta, with nothing for alerts or API-key spend counters (clear-settled.lua).
 */
export interface SettledEntry {
  accountId: string;
  changeKey: string;
  appliedDelta: bigint;
  token: string;
}

/**
 * The real-time copy of balances in Redis. Every change follows reserve -> Postgres commit ->
 * settle (see lua/*.lua), which keeps Redis equal to Postgres through crashes, redeliveries
 * and concurrent attempts. Missing balances are loaded from Postgres before first use.
 */
@Injectable()
export class BalanceStore {
  constructor(
    @Inject(REDIS) private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
    private readonly balances: BalanceRepository,
    private readonly metrics: BillingMetrics,
  ) {
    defineLedgerScripts(redis);
  }

  /** One Lua call per account, pipelined; balances missing in Redis are seeded from Postgres. */
  async reserve(changes: readonly PendingChange[]): Promise<ReservedChange[]> {
    let replies = await this.runReserve(changes, new Map());
    const missing = changes.filter((_, index) => replies[index][0] === 'missing');
    if (missing.length > 0) {
      // Every retried change gets its balance seed, in case Redis lost it since the first call too.
      const seeds = await this.balances.seedsOf(missing.map((change) => change.accountId));
      const lostBalances = replies.filter((reply) => reply[0] === 'missing' && reply[1] === 'balance').length;
      if (lostBalances > 0) this.metrics.redisStateLoaded.inc({ kind: 'balance' }, lostBalances);
      const counterSeeds = new Map<PendingChange, bigint[]>();
      for (const change of missing) {
        if (change.alerts && change.alerts.counters.length > 0) {
          counterSeeds.set(change, await change.alerts.seedCounters());
          this.metrics.redisStateLoaded.inc({ kind: 'budget_counter' }, change.alerts.counters.length);
        }
      }
      const retried = await this.runReserve(missing, seeds, counterSeeds);
      let next = 0;
      replies = replies.map((reply) => (reply[0] === 'missing' ? retried[next++] : reply));
    }
    return replies.map((reply, index) => {
      if (reply[0] === 'missing') throw new Error(`account ${changes[index].accountId} has no balance row`);
      return {
        accountId: changes[index].accountId,
        status: reply[0],
        token: reply[1],
        balanceBefore: BigInt(reply[2]),
        balanceAfter: BigInt(reply[3]),
        crossing: reply[4] ? Number(reply[4]) : null,
        alertRecord: reply[5] ?? '',
      };
    });
  }

  /** Per settlement, whether it found its pending entry (false: settled before, nothing done). */
  async settle(settlements: readonly Settlement[]): Promise<boolean[]> {
    const balanceKey = (change: { accountId: string }) => this.keys.balance(change.accountId);
    const replies = await sendEach(this.redis, settlements, balanceKey, (commands, s) => {
      const spend = s.keySpend ?? [];
      return commands.settleChangeWithSpend(
        2 + spend.length,
        this.keys.balance(s.accountId),
        this.keys.pending(s.accountId),
        ...spend.map((entry) => entry.counterKey),
        s.changeKey,
        s.committedToken,
        s.committedDelta.toString(),
        ...spend.map((entry) => entry.micros.toString()),
        ...(s.counterSpend ?? []).flatMap((entry) => [
          entry.field,
          entry.micros.toString(),
          entry.unreached ? '1' : '0',
        ]),
      );
    });
    return replies.map((reply) => Number((reply as [number, string])[0]) === 1);
  }

  /** Removes such entries, one script call per account; returns how many were still there. */
  async clearSettled(entries: readonly SettledEntry[]): Promise<number> {
    const byAccount = new Map<string, string[]>();
    for (const entry of entries) {
      let args = byAccount.get(entry.accountId);
      if (!args) byAccount.set(entry.accountId, (args = []));
      args.push(entry.changeKey, `${entry.appliedDelta}:${entry.token}`);
    }
    const replies = await sendEach(
      this.redis,
      [...byAccount],
      ([accountId]) => this.keys.balance(accountId),
      (commands, [accountId, args]) =>
        commands.clearSettled(this.keys.balance(accountId), this.keys.pending(accountId), ...args),
    );
    return replies.reduce<number>((sum, removed) => sum + Number(removed), 0);
  }

  /**
   * Makes an auto-reload crossing without a deduction if the balance is below `thresholdMicros`
   * and auto-reload is armed or no crossing was numbered since `failedCrossing` (null: only if
   * armed). Leaves a pending entry under `changeKey` to record in Postgres and settle, like a
   * reserve; an entry already there (a concurrent or earlier attempt) is returned instead.
   */
  async reserveReloadRetry(retry: {
    accountId: string;
    changeKey: string;
    token: string;
    thresholdMicros: bigint;
    failedCrossing: number | null;
  }): Promise<{ status: 'created' | 'exists' | 'none'; token: string; crossing: number | null }> {
    const run = (seed?: BalanceSeed) =>
      this.redis.retryAutoReload(
        this.keys.balance(retry.accountId),
        this.keys.pending(retry.accountId),
        retry.changeKey,
        retry.token,
        retry.thresholdMicros.toString(),
        retry.failedCrossing === null ? '' : String(retry.failedCrossing),
        seed?.balance.toString() ?? '',
        seed?.reloads ?? '',
      );
    let reply = await run();
    if (reply[0] === 'missing') {
      const seed = (await this.balances.seedsOf([retry.accountId])).get(retry.accountId);
      if (!seed) throw new Error(`account ${retry.accountId} has no balance row`);
      this.metrics.redisStateLoaded.inc({ kind: 'balance' });
      reply = await run(seed);
    }
    if (reply[0] === 'missing') throw new Error(`account ${retry.accountId}: balance missing after seeding`);
    return { status: reply[0], token: reply[1], crossing: reply[3] ? Number(reply[3]) : null };
  }

  /** The balance gateways see; loaded from Postgres when Redis has none. Null for unknown accounts. */
  async balanceOf(accountId: string): Promise<bigint | null> {
    const cached = await this.redis.hget(this.keys.balance(accountId), 'bal');
    if (cached !== null) return BigInt(cached);
    const seed = (await this.balances.seedsOf([accountId])).get(accountId);
    if (seed === undefined) return null;
    this.metrics.redisStateLoaded.inc({ kind: 'balance' });
    return BigInt(
      await this.redis.seedBalance(this.keys.balance(accountId), seed.balance.toString(), seed.reloads),
    );
  }

  private async runReserve(
    changes: readonly PendingChange[],
    seeds: Map<string, BalanceSeed>,
    counterSeeds: Map<PendingChange, bigint[]> = new Map(),
  ): Promise<ReserveReply[]> {
    const balanceKey = (change: PendingChange) => this.keys.balance(change.accountId);
    return (await sendEach(this.redis, changes, balanceKey, (commands, change) => {
      const seed = seeds.get(change.accountId);
      return commands.reserveChange(
        this.keys.balance(change.accountId),
        this.keys.pending(change.accountId),
        change.changeKey,
        change.appliedDelta.toString(),
        change.token,
        seed === undefined ? '' : seed.balance.toString(),
        change.thresholdMicros == null ? '' : change.thresholdMicros.toString(),
        seed?.reloads ?? '',
        ...alertArgs(change.alerts, counterSeeds.get(change)),
      );
    })) as ReserveReply[];
  }
}

/** ARGV[7..] of reserve-change.lua; none without alert rules, so such accounts pay nothing extra. */
function alertArgs(rules: ChangeAlertRules | undefined, seeds: bigint[] | undefined): string[] {
  if (!rules) return [];
  const args = [
    rules.lowBalanceMicros?.toString() ?? '',
    (rules.rearmMicros ?? rules.lowBalanceMicros)?.toString() ?? '',
    rules.keepFromMonth,
  ];
  rules.counters.forEach((counter, index) => {
    args.push(
      counter.field,
      counter.deltaMicros.toString(),
      seeds?.[index]?.toString() ?? '',
      counter.thresholds.map((t) => `${t.percent}=${t.amountMicros}`).join(','),
    );
  });
  return args;
}
