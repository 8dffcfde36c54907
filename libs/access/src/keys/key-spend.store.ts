import { CachedApiKey, CatalogCache, KeyLimitPeriod } from '@app/catalog';
import { DATABASE, DatabaseHandle } from '@app/db';
import { BillingMetrics } from '@app/metrics';
import { receivedAtRangeOfOccurred } from '@app/queue';
import { REDIS, RedisClient, RedisKeys } from '@app/redis';
import { Inject, Injectable } from '@nestjs/common';
import { Result } from 'ioredis';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isoDay, SpendPeriod, spendPeriodAt } from './key-spend-period';

declare module 'ioredis' {
  interface RedisCommander<Context> {
    /** create-key-spend-counter.lua: the counter's value, or null to read again. */
    createKeySpendCounter(
      counterKey: string,
      balanceKey: string,
      pendingKey: string,
      spentMicros: string,
      ttlSeconds: string,
      gen: string,
      ...committedChangeKeys: string[]
    ): Result<string | null, Context>;
  }
}

export interface KeySpend {
  period: SpendPeriod;
  spentMicros: bigint;
}

/** Counters outlive their period by a day, so late-settling batches of the period still find them. */
const COUNTER_GRACE_SECONDS = 86_400;

/**
 * Reads of Postgres before a counter is created anyway: each is retried only because a batch of
 * the account was reserved or settled meanwhile, so a busy account may need a few.
 */
const LOAD_ATTEMPTS = 8;

let createCounterSource: string | undefined;

/**
 * What an API key spent in its current limit period. The usage worker adds committed spend to
 * the Redis counter when it settles a batch (settle-change.lua); a counter that does not exist
 * yet (first look this period, or Redis lost) is loaded from Postgres, which holds every
 * committed event, with create-key-spend-counter.lua: batches that committed before that read
 * and settle after it are not counted again, and none is missed. Limits stay soft by the
 * requests still running, as any limit checked before the usage is known.
 */
@Injectable()
export class KeySpendStore {
  private readonly loading = new Map<string, Promise<bigint>>();

  constructor(
    @Inject(REDIS) private readonly redis: RedisClient,
    @Inject(DATABASE) private readonly database: DatabaseHandle,
    private readonly keys: RedisKeys,
    private readonly catalog: CatalogCache,
    private readonly metrics: BillingMetrics,
  ) {
    // Once per client. Not `in`: the augmentation types the command as present on every client.
    if (!Object.hasOwn(redis, 'createKeySpendCounter')) {
      createCounterSource ??= readFileSync(join(__dirname, 'create-key-spend-counter.lua'), 'utf8');
      redis.defineCommand('createKeySpendCounter', { numberOfKeys: 3, lua: createCounterSource });
    }
  }

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
    const balance = this.keys.balance(key.accountId);
    const pending = this.keys.pending(key.accountId);
    this.metrics.redisStateLoaded.inc({ kind: 'key_spend' });
    const received = receivedAtRangeOfOccurred(period.start, period.end);
    for (let attempt = 1; ; attempt++) {
      // One MULTI: the pending entries as of that gen.
      const read = await this.redis.multi().hget(balance, 'gen').hkeys(pending).exec();
      const gen = (read?.[0]?.[1] as string | null) ?? '';
      const changeKeys = ((read?.[1]?.[1] as string[] | undefined) ?? []).filter(
        (field) => !field.includes('|'),
      );
      // One statement, one snapshot: the spend, and which pending batches it includes (their
      // usage ledger rows, keyed as @app/ledger's usageLedgerKey writes them). The spend is whole
      // UTC days of occurred_at from the events' rollup, its index range bounded by the
      // received_at that such events can have.
      const [{ spent, committed }] = await this.database.sql<{ spent: bigint; committed: string[] }[]>`
        select
          (select coalesce(sum(spend_micros), 0)::bigint from usage_scope_spend_hourly
           where account_id = ${key.accountId} and scope = 'api_key' and scope_id = ${key.id}
             and received_hour >= date_trunc('hour', ${received.from}::timestamptz, 'UTC')
             and received_hour < ${received.to}
             and occurred_day >= ${isoDay(period.start.getTime())}::date
             and occurred_day < ${isoDay(period.end.getTime())}::date) as spent,
          (select coalesce(array_agg(c.change_key), '{}') from unnest(${changeKeys}::text[]) as c(change_key)
           where exists (select 1 from ledger_entries
                         where idempotency_key = 'usage:' || c.change_key || ':' || ${key.accountId})) as committed`;
      const ttl = Math.max(Math.ceil((period.end.getTime() - Date.now()) / 1000) + COUNTER_GRACE_SECONDS, 60);
      if (attempt === LOAD_ATTEMPTS) {
        // Still moving: create it as read. A batch settling between the read and now may be
        // counted twice or not at all; limits are soft by that much.
        this.metrics.keySpendLoadedAsRead.inc();
        await this.redis.set(counter, spent.toString(), 'EX', ttl, 'NX');
        return BigInt((await this.redis.get(counter)) ?? spent.toString());
      }
      const value = await this.redis.createKeySpendCounter(
        counter,
        balance,
        pending,
        spent.toString(),
        String(ttl),
        gen,
        ...committed,
      );
      if (value !== null) return BigInt(value);
    }
  }
}
