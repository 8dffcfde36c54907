import { FreeModelLimiter, KeySpendStore, TierPolicy } from '@app/access';
import { balanceFloorMicros, CachedApiKey, CatalogCache, isFree } from '@app/catalog';
import { BalanceStore } from '@app/ledger';
import { BillingMetrics } from '@app/metrics';
import { Injectable } from '@nestjs/common';

export interface AuthorizeRequest {
  accountId: string;
  modelId: string;
  apiKeyId?: string;
}

export type AuthorizeDenial =
  | { reason: 'unknown_account' | 'unknown_model' | 'api_key_not_found' | 'api_key_revoked' }
  | {
      reason: 'insufficient_credits' | 'account_inactive' | 'model_not_allowed_on_free_tier';
      balanceMicros: bigint;
    }
  | {
      reason: 'key_limit_exceeded';
      balanceMicros: bigint;
      limitMicros: bigint;
      spentMicros: bigint;
      resetsAt: Date;
    }
  | { reason: 'rate_limited'; limit: 'per_minute' | 'per_day'; retryAfterSeconds: number };

export type AuthorizeDecision =
  { allowed: true; balanceMicros: bigint } | ({ allowed: false } & AuthorizeDenial);

/**
 * "May this request run?" from in-process caches and Redis, in this order: the account, model
 * and key exist and are usable; the tier allows the model; a paid model needs a positive balance
 * (invoice billing: a balance above -credit limit) and a key under its credit limit; a free model needs room in the free-model rate limits (taken
 * last, so a refused request never uses quota). Balances may dip below zero by the cost of
 * requests already running, which are still charged in full.
 */
@Injectable()
export class AuthorizeUsageService {
  constructor(
    private readonly catalog: CatalogCache,
    private readonly balances: BalanceStore,
    private readonly tiers: TierPolicy,
    private readonly keySpend: KeySpendStore,
    private readonly limiter: FreeModelLimiter,
    private readonly metrics: BillingMetrics,
  ) {}

  async authorize(request: AuthorizeRequest): Promise<AuthorizeDecision> {
    const decision = await this.decide(request);
    this.metrics.authorizeDecisions.inc({
      outcome: decision.allowed ? 'allowed' : 'denied',
      reason: decision.allowed ? 'ok' : decision.reason,
    });
    if (!decision.allowed && decision.reason === 'rate_limited') {
      this.metrics.rateLimitRejections.inc({ limit: decision.limit });
    }
    return decision;
  }

  private async decide({ accountId, modelId, apiKeyId }: AuthorizeRequest): Promise<AuthorizeDecision> {
    const nowMs = Date.now();
    const lookUp = () => ({
      account: this.catalog.account(accountId),
      price: this.catalog.priceAt(modelId, nowMs),
      key: apiKeyId === undefined ? undefined : this.catalog.apiKey(apiKeyId),
    });
    let { account, price, key } = lookUp();
    if (!account || !price || (apiKeyId !== undefined && !key)) {
      await this.catalog.refreshIfStale();
      ({ account, price, key } = lookUp());
    }
    if (!account) return { allowed: false, reason: 'unknown_account' };
    if (!price) return { allowed: false, reason: 'unknown_model' };
    if (apiKeyId !== undefined) {
      if (!key || key.accountId !== accountId) return { allowed: false, reason: 'api_key_not_found' };
      if (key.revokedAt) return { allowed: false, reason: 'api_key_revoked' };
    }
    const balanceMicros = (await this.balances.balanceOf(accountId)) ?? 0n;
    if (account.status !== 'active') return { allowed: false, reason: 'account_inactive', balanceMicros };
    if (!this.tiers.mayUseModel(account, price)) {
      return { allowed: false, reason: 'model_not_allowed_on_free_tier', balanceMicros };
    }
    if (!isFree(price)) {
      // Prepaid: the balance must be positive. Invoice billing runs on credit, down to -credit limit.
      if (balanceMicros <= balanceFloorMicros(account))
        return { allowed: false, reason: 'insufficient_credits', balanceMicros };
      const overLimit = key && (await this.keyOverLimit(key, nowMs));
      if (overLimit) return { allowed: false, reason: 'key_limit_exceeded', balanceMicros, ...overLimit };
      return { allowed: true, balanceMicros };
    }
    const limits = this.tiers.freeModelLimits(account, price);
    if (limits) {
      const admitted = await this.limiter.admit(accountId, limits, nowMs);
      if (!admitted.allowed) {
        return {
          allowed: false,
          reason: 'rate_limited',
          limit: admitted.limit,
          retryAfterSeconds: admitted.retryAfterSeconds,
        };
      }
    }
    return { allowed: true, balanceMicros };
  }

  private async keyOverLimit(key: CachedApiKey, nowMs: number) {
    if (key.limitMicros === null) return null;
    const spend = await this.keySpend.current(key, nowMs);
    if (!spend || spend.spentMicros < key.limitMicros) return null;
    return { limitMicros: key.limitMicros, spentMicros: spend.spentMicros, resetsAt: spend.period.end };
  }
}
