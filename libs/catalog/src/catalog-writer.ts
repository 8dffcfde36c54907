import { AuditActor, AuditLogService } from '@app/audit';
import { BALANCE_SHARDS, DATABASE, DatabaseHandle } from '@app/db';
import { formatUsd, highestMicrosPerMtok, TokenPrices } from '@app/money';
import { MAX_RECONNECT_DELAY_MS, REDIS, RedisClient, RedisKeys, RepeatedErrorLog } from '@app/redis';
import { Inject, Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { AccountTier, CachedAccount, PriceVersion } from './catalog-types';

/**
 * First wait before retrying an announce that failed, doubling to the Redis connection's own
 * longest reconnect wait (MAX_RECONNECT_DELAY_MS): the bump lands within about a second of the
 * connection's return, and an outage costs one attempt a second or so.
 */
const FIRST_RETRY_DELAY_MS = 100;

export interface NewAccountInput {
  name: string;
  email: string;
  tier: AccountTier;
}

export interface AccountChange {
  name?: string;
  email?: string;
  tier?: AccountTier;
  status?: CachedAccount['status'];
}

export interface AccountRecord {
  id: string;
  name: string;
  billing_email: string;
  tier: AccountTier;
  status: CachedAccount['status'];
  created_at: Date;
  tier_changed_at: Date | null;
}

/** Invoice billing is an enterprise agreement: the tier cannot leave enterprise while it is on. */
export class InvoiceBillingTierError extends Error {
  constructor() {
    super(
      'the account has invoice billing; return it to prepaid (DELETE .../invoice-billing) before changing its tier',
    );
  }
}

export interface CreatedAccount extends CachedAccount {
  name: string;
  email: string;
  balanceMicros: bigint;
}

export interface NewPriceInput extends TokenPrices {
  modelId: string;
  effectiveFrom: Date;
}

/**
 * Writes accounts and prices, then bumps the catalog version in Redis and announces it, so
 * every process's CatalogCache sees the change before the writer's caller gets an answer (with
 * Redis away: as soon as it is back, see `announce`).
 */
@Injectable()
export class CatalogWriter implements OnModuleDestroy {
  private readonly logger = new Logger(CatalogWriter.name);
  /** During an outage every failed announce and retry reports the same error: logged once per few minutes. */
  private readonly failures = new RepeatedErrorLog((line) => this.logger.warn(line));
  /** A committed change has no version bump in Redis yet. */
  private owed = false;
  /** Accounts created while Redis was away: their zero balance goes there before the owed bump. */
  private readonly unseeded = new Set<string>();
  private retry: NodeJS.Timeout | null = null;
  private retrying = false;
  private retryDelayMs = FIRST_RETRY_DELAY_MS;
  private stopped = false;

  constructor(
    @Inject(DATABASE) private readonly database: DatabaseHandle,
    @Inject(REDIS) private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
    private readonly audit: AuditLogService,
  ) {}

  async createAccount(input: NewAccountInput, actor: AuditActor): Promise<CreatedAccount> {
    const account = await this.database.sql.begin(async (tx) => {
      const [row] = await tx<{ id: string; tier: AccountTier; status: CachedAccount['status'] }[]>`
        insert into accounts (name, billing_email, tier) values (${input.name}, ${input.email}, ${input.tier})
        returning id, tier, status`;
      // The billing contact owns the new workspace.
      await tx`insert into account_members (account_id, email, role) values (${row.id}, ${input.email}, 'owner')`;
      await tx`
        insert into account_balances (account_id, shard, balance_micros)
        select ${row.id}, shard, 0 from generate_series(0, ${BALANCE_SHARDS - 1}) as shard`;
      await this.audit.record(tx, {
        accountId: row.id,
        actor,
        action: 'account.created',
        targetType: 'account',
        targetId: row.id,
        before: null,
        after: { name: input.name, email: input.email, tier: row.tier, status: row.status },
      });
      return row;
    });
    // Its zero balance goes to Redis now, as seed-balance.lua would put it there (the id is new,
    // so nothing can be pending): a balance loaded from Postgres then always means Redis lost it
    // (billing_redis_state_loaded_total, alert BillingRedisLostBalances). Before the announce, so
    // processes that learn of the account find it there. With Redis away, both are left to the
    // background announce (no second wait for Redis here): the account is committed, say so.
    try {
      await this.seedZeroBalance(account.id);
      await this.announce();
    } catch (error) {
      this.unseeded.add(account.id);
      this.failures.report('new account balance not seeded in Redis; retrying in the background', error);
      this.owe();
    }
    return {
      ...account,
      name: input.name,
      email: input.email,
      balanceMicros: 0n,
      purchasedMicros: 0n,
      ipAllowlist: [],
      billingMode: 'prepaid',
      creditLimitMicros: 0n,
      tierChangedAt: null,
    };
  }

  async findAccount(accountId: string): Promise<AccountRecord | null> {
    const [row] = await this.database.sql<AccountRecord[]>`
      select id, name, billing_email, tier, status, created_at, tier_changed_at from accounts where id = ${accountId}`;
    return row ?? null;
  }

  /** Changes an account's name, billing email, tier or status (never automatically), with its audit row. */
  async updateAccount(
    accountId: string,
    change: AccountChange,
    actor: AuditActor,
  ): Promise<AccountRecord | null> {
    const updated = await this.database.sql.begin(async (tx) => {
      const [before] = await tx<AccountRecord[]>`
        select id, name, billing_email, tier, status, created_at, tier_changed_at from accounts where id = ${accountId} for update`;
      if (!before) return null;
      if (change.tier && change.tier !== 'enterprise') {
        const [mode] = await tx<
          { billing_mode: string }[]
        >`select billing_mode from accounts where id = ${accountId}`;
        if (mode.billing_mode === 'invoice') throw new InvoiceBillingTierError();
      }
      const [after] = await tx<AccountRecord[]>`
        update accounts set name = ${change.name ?? before.name}, billing_email = ${change.email ?? before.billing_email},
               tier = ${change.tier ?? before.tier}, status = ${change.status ?? before.status}, updated_at = now(),
               -- Only a real change moves it: ingest charges paid models of what occurred before it.
               tier_changed_at = case when tier = ${change.tier ?? before.tier} then tier_changed_at else now() end
        where id = ${accountId}
        returning id, name, billing_email, tier, status, created_at, tier_changed_at`;
      const view = (row: AccountRecord) => ({
        name: row.name,
        email: row.billing_email,
        tier: row.tier,
        status: row.status,
      });
      await this.audit.record(tx, {
        accountId,
        actor,
        action: after.tier !== before.tier ? 'account.tier_changed' : 'account.updated',
        targetType: 'account',
        targetId: accountId,
        before: view(before),
        after: view(after),
      });
      return after;
    });
    if (updated) await this.announce();
    return updated;
  }

  /** Appends the next price version of a model. Versions are numbered per model from 1. */
  async addPriceVersion(input: NewPriceInput): Promise<PriceVersion> {
    const price = await this.database.sql.begin(async (tx) => {
      // Serialises concurrent writers of the same model so version numbers stay dense.
      await tx`select pg_advisory_xact_lock(hashtext(${'model_prices:' + input.modelId}))`;
      const [row] = await tx<{ id: number; version: number; effective_from: Date }[]>`
        insert into model_prices (model_id, version, prompt_micros_per_mtok, completion_micros_per_mtok,
                                  cached_micros_per_mtok, reasoning_micros_per_mtok, effective_from)
        select ${input.modelId}, coalesce(max(version), 0) + 1, ${input.promptMicrosPerMtok}, ${input.completionMicrosPerMtok},
               ${input.cachedMicrosPerMtok}, ${input.reasoningMicrosPerMtok}, ${input.effectiveFrom}
        from model_prices where model_id = ${input.modelId}
        returning id, version, effective_from`;
      return row;
    });
    await this.announce();
    return {
      id: Number(price.id),
      modelId: input.modelId,
      version: price.version,
      effectiveFrom: price.effective_from,
      promptMicrosPerMtok: input.promptMicrosPerMtok,
      completionMicrosPerMtok: input.completionMicrosPerMtok,
      cachedMicrosPerMtok: input.cachedMicrosPerMtok,
      reasoningMicrosPerMtok: input.reasoningMicrosPerMtok,
      highestMicrosPerMtok: highestMicrosPerMtok(input),
    };
  }

  /**
   * Tells every process's CatalogCache that accounts, prices, keys or projects changed. Call after
   * commit. Never throws: the change is committed, so its caller must answer as such (a 503 made
   * the admin tool's retry create a second account). With Redis away it tries once (the
   * connection fails fast) and leaves the bump to the background retry, so every process learns
   * of the change within a second or two of Redis's return, not at its next CATALOG_RESYNC_MS.
   */
  async announce(): Promise<void> {
    try {
      await this.bump();
    } catch (error) {
      this.failures.report('catalog announce failed after commit; retrying in the background', error);
      this.owe();
    }
  }

  onModuleDestroy(): void {
    // What is still owed is seen within CATALOG_RESYNC_MS (caches) or loaded on first use (balances).
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
  }

  private async bump(): Promise<void> {
    const version = await this.redis.incr(this.keys.catalogVersion());
    await this.redis.publish(this.keys.catalogChannel(), String(version));
  }

  private async seedZeroBalance(accountId: string): Promise<void> {
    // `gen` starts from Redis's clock in microseconds, as @app/ledger's lua/lib/fresh-gen.lua seeds it.
    const [seconds, micros] = await this.redis.time();
    await this.redis
      .multi()
      .hsetnx(this.keys.balance(accountId), 'bal', '0')
      .hsetnx(this.keys.balance(accountId), 'gen', `${seconds}${String(micros).padStart(6, '0')}`)
      .exec();
  }

  /** One pending retry however many announces failed: a single bump after all their commits covers them all. */
  private owe(): void {
    this.owed = true;
    if (this.retry || this.retrying || this.stopped) return;
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    this.retry = setTimeout(() => void this.retryOwed(), this.retryDelayMs);
    // An owed bump keeps no process alive (a CLI done with its work exits; the resync covers it).
    this.retry.unref();
    this.retryDelayMs = Math.min(this.retryDelayMs * 2, MAX_RECONNECT_DELAY_MS);
  }

  private async retryOwed(): Promise<void> {
    this.retry = null;
    this.retrying = true;
    // Cleared before the bump: an announce failing meanwhile may have committed after this INCR,
    // so it sets `owed` again and gets a bump of its own below.
    this.owed = false;
    try {
      for (const accountId of this.unseeded) {
        await this.seedZeroBalance(accountId);
        this.unseeded.delete(accountId);
      }
      await this.bump();
      this.retryDelayMs = FIRST_RETRY_DELAY_MS;
      this.logger.log('catalog announce delivered after Redis returned');
    } catch (error) {
      this.owed = true;
      this.failures.report('catalog announce retry failed', error);
    } finally {
      this.retrying = false;
    }
    if (this.owed && !this.stopped) this.scheduleRetry();
  }
}

/** A price version as the API shows it: USD decimal strings per million tokens. */
export function priceToJson(price: PriceVersion) {
  return {
    model: price.modelId,
    version: price.version,
    prompt_price_per_mtok: formatUsd(price.promptMicrosPerMtok),
    completion_price_per_mtok: formatUsd(price.completionMicrosPerMtok),
    cached_price_per_mtok: formatUsd(price.cachedMicrosPerMtok),
    reasoning_price_per_mtok: formatUsd(price.reasoningMicrosPerMtok),
    effective_from: price.effectiveFrom.toISOString(),
  };
}
