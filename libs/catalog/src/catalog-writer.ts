import { BALANCE_SHARDS, DATABASE, DatabaseHandle } from '@app/db';
import { formatUsd, TokenPrices } from '@app/money';
import { REDIS, RedisKeys } from '@app/redis';
import { Inject, Injectable } from '@nestjs/common';
import Redis from 'ioredis';
import { AccountTier, CachedAccount, PriceVersion } from './catalog-types';

export interface NewAccountInput {
  name: string;
  email: string;
  tier: AccountTier;
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
    @Inject(REDIS) private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  async createAccount(input: NewAccountInput): Promise<CreatedAccount> {
    const account = await this.database.sql.begin(async (tx) => {
      const [row] = await tx<{ id: string; tier: AccountTier; status: CachedAccount['status'] }[]>`
        insert into accounts (name, billing_email, tier) values (${input.name}, ${input.email}, ${input.tier})
        returning id, tier, status`;
      await tx`
        insert into account_balances (account_id, shard, balance_micros)
        select ${row.id}, shard, 0 from generate_series(0, ${BALANCE_SHARDS - 1}) as shard`;
      return row;
    });
    await this.announce();
    return { ...account, name: input.name, email: input.email, balanceMicros: 0n };
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
    };
  }

  private async announce(): Promise<void> {
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
