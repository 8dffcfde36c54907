import { CachedApiKey, CatalogCache, KeyLimitPeriod } from '@app/catalog';
import { DATABASE, DatabaseHandle } from '@app/db';
import { REDIS, RedisKeys } from '@app/redis';
import { Inject, Injectable } from '@nestjs/common';
import Redis from 'ioredis';
import { SpendPeriod, spendPeriodAt } from './key-spend-period';

export interface KeySpend {
  period: SpendPeriod;
  spentMicros: bigint;
}

/** Counters outlive their period by a day, so late-settling batches of the period still find them. */
const COUNTER_GRACE_SECONDS = 86_400;

/**
 * What an API key spent in its current limit period. The usage worker adds committed spend to
 * the Redis counter when it settles a batch (settle-change.lua); a counter that does not exist
 * yet (first look this period, or Redis lost) is loaded from Postgres, which holds every
 * committed event. A batch settling between that read and the SET NX is not counted: limits are
 * soft by that much, as they already are by the requests still running.
 */
@Injectable()
export class KeySpendStore {
  private readonly loading = new Map<string, Promise<bigint>>();

  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(DATABASE) private readonly database: DatabaseHandle,
    private readonly keys: RedisKeys,
    private readonly catalog: CatalogCache,
  ) {}

  /** Spend in the key's limit period containing `nowMs`; null for keys without a limit. */
  async current(key: CachedApiKey, nowMs = Date.now()): Promise<KeySpend | null> {
    if (!key.limitPeriod) return null;
    const period = spendPeriodAt(key.limitPeriod, nowMs);
    const counter = this.keys.keySpend(key.accountId, key.id, period.id);
    const cached = await this.redis.get(counter);
    if (cached !== null) return { period, spentMicros: BigInt(cached) };
    // A limit removed or changed a moment ago may not have reached this process's catalog yet:
    // look again before creating a counter that no worker would add to (see forget()).
    await this.catalog.refreshIfStale();
    const fresh = this.catalog.apiKey(key.id);
    if (!fresh?.limitPeriod) return null;
    if (fresh.limitPeriod !== key.limitPeriod) return this.current(fresh, nowMs);
    let load = this.loading.get(counter);
    if (!load) {
      load = this.load(key, period, counter).finally(() => this.loading.delete(counter));
      this.loading.set(counter, load);
    }
    return { period, spentMicros: await load };
  }

  /**
   * Drops the key's counter of its current `period`, when the key stops having a limit of that
   * period. The worker adds spend only to counters of limits it knows, so a counter left behind
   * would miss the spend made meanwhile if the same limit came back within the period; without
   * it, the next look loads the spend from Postgres.
   */
  async forget(key: Pick<CachedApiKey, 'accountId' | 'id'>, period: KeyLimitPeriod, nowMs = Date.now()) {
    await this.redis.del(this.keys.keySpend(key.accountId, key.id, spendPeriodAt(period, nowMs).id));
  }

  private async load(key: CachedApiKey, period: SpendPeriod, counter: string): Promise<bigint> {
    const [{ spent }] = await this.database.sql<{ spent: bigint }[]>`
      select coalesce(sum(cost_micros), 0)::bigint as spent from usage_events
      where account_id = ${key.accountId} and api_key_id = ${key.id}
        and occurred_at >= ${period.start} and occurred_at < ${period.end}`;
    const ttl = Math.ceil((period.end.getTime() - Date.now()) / 1000) + COUNTER_GRACE_SECONDS;
    await this.redis.set(counter, spent.toString(), 'EX', Math.max(ttl, 60), 'NX');
    return BigInt((await this.redis.get(counter)) ?? spent.toString());
  }
}
