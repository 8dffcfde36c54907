import { AuditActor, AuditLogService } from '@app/audit';
import { BALANCE_SHARDS, DATABASE, DatabaseHandle } from '@app/db';
import { formatUsd, highestMicrosPerMtok, TokenPrices } from '@app/money';
import { REDIS, RedisClient, RedisKeys } from '@app/redis';
import { Inject, Injectable } from '@nestjs/common';
import { AccountTier, CachedAccount, PriceVersion } from './catalog-types';

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
 * every process's CatalogCache sees the change before the writer's caller gets an answer.
 */
@Injectable()
export class CatalogWriter {
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
    await this.announce();
    // Its zero balance goes to Redis now, as seed-balance.lua would put it there (the id is new,
    // so nothing can be pending): a balance loaded from Postgres then always means Redis lost it
    // (billing_redis_state_loaded_total, alert BillingRedisLostBalances). Its `gen` starts from
    // Redis's clock in microseconds, as @app/ledger's lua/lib/fresh-gen.lua seeds it.
    const [seconds, micros] = await this.redis.time();
    await this.redis
      .multi()
      .hsetnx(this.keys.balance(account.id), 'bal', '0')
      .hsetnx(this.keys.balance(account.id), 'gen', `${seconds}${String(micros).padStart(6, '0')}`)
      .exec();
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

  /** Tells every process's CatalogCache that accounts, prices, keys or projects changed. Call after commit. */
  async announce(): Promise<void> {
    const version = await this.redis.incr(this.keys.catalogVersion());
    await this.redis.publish(this.keys.catalogChannel(), String(version));
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
