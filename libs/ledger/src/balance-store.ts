import { REDIS, RedisKeys } from '@app/redis';
import { Inject, Injectable } from '@nestjs/common';
import Redis from 'ioredis';
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
}

export interface Settlement {
  accountId: string;
  changeKey: string;
  /** Token Postgres stored with the committed ledger row, "" when nothing was committed. */
  committedToken: string;
  committedDelta: bigint;
  /** Spend to add to API-key spend counters (Redis keys of this account) if the change settles as committed. */
  keySpend?: ReadonlyArray<{ counterKey: string; micros: bigint }>;
}

/**
 * The real-time copy of balances in Redis. Every change follows reserve -> Postgres commit ->
 * settle (see lua/*.lua), which keeps Redis equal to Postgres through crashes, redeliveries
 * and concurrent attempts. Missing balances are loaded from Postgres before first use.
 */
@Injectable()
export class BalanceStore {
  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly balances: BalanceRepository,
  ) {
    defineLedgerScripts(redis);
  }

  /** One Lua call per account, pipelined; balances missing in Redis are seeded from Postgres. */
  async reserve(changes: readonly PendingChange[]): Promise<ReservedChange[]> {
    let replies = await this.runReserve(changes, new Map());
    const missing = changes.filter((_, index) => replies[index][0] === 'missing');
    if (missing.length > 0) {
      const seeds = await this.balances.seedsOf(missing.map((change) => change.accountId));
      const retried = await this.runReserve(missing, seeds);
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
      };
    });
  }

  async settle(settlements: readonly Settlement[]): Promise<void> {
    if (settlements.length === 0) return;
    const pipeline = this.redis.pipeline();
    for (const s of settlements) {
      const spend = s.keySpend ?? [];
      pipeline.settleChangeWithSpend(
        2 + spend.length,
        this.keys.balance(s.accountId),
        this.keys.pending(s.accountId),
        ...spend.map((entry) => entry.counterKey),
        s.changeKey,
        s.committedToken,
        s.committedDelta.toString(),
        ...spend.map((entry) => entry.micros.toString()),
      );
    }
    throwPipelineErrors(await pipeline.exec());
  }

  /** The balance gateways see; loaded from Postgres when Redis has none. Null for unknown accounts. */
  async balanceOf(accountId: string): Promise<bigint | null> {
    const cached = await this.redis.hget(this.keys.balance(accountId), 'bal');
    if (cached !== null) return BigInt(cached);
    const seed = (await this.balances.seedsOf([accountId])).get(accountId);
    if (seed === undefined) return null;
    return BigInt(
      await this.redis.seedBalance(this.keys.balance(accountId), seed.balance.toString(), seed.reloads),
    );
  }

  private async runReserve(
    changes: readonly PendingChange[],
    seeds: Map<string, BalanceSeed>,
  ): Promise<ReserveReply[]> {
    if (changes.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const change of changes) {
      const seed = seeds.get(change.accountId);
      pipeline.reserveChange(
        this.keys.balance(change.accountId),
        this.keys.pending(change.accountId),
        change.changeKey,
        change.appliedDelta.toString(),
        change.token,
        seed === undefined ? '' : seed.balance.toString(),
        change.thresholdMicros == null ? '' : change.thresholdMicros.toString(),
        seed?.reloads ?? '',
      );
    }
    return throwPipelineErrors(await pipeline.exec()) as ReserveReply[];
  }
}

export function throwPipelineErrors(results: [Error | null, unknown][] | null): unknown[] {
  if (!results) throw new Error('Redis pipeline was aborted');
  return results.map(([error, value]) => {
    if (error) throw error;
    return value;
  });
}
