import { CachedAccount, isFree, PriceVersion } from '@app/catalog';
import { parseUsd } from '@app/money';
import { Inject, Injectable } from '@nestjs/common';

export interface FreeModelLimitSettings {
  perMinute: number;
  perDay: number;
  /** Daily limit once the account has bought at least `purchaseThresholdMicros` of credits, ever. */
  perDayAfterPurchase: number;
  purchaseThresholdMicros: bigint;
}
export const FREE_MODEL_LIMITS = Symbol('FREE_MODEL_LIMITS');

export function freeModelLimitsFromEnv(env: {
  FREE_MODEL_REQUESTS_PER_MINUTE: number;
  FREE_MODEL_REQUESTS_PER_DAY: number;
  FREE_MODEL_REQUESTS_PER_DAY_AFTER_PURCHASE: number;
  FREE_MODEL_PURCHASE_THRESHOLD_USD: string;
}): FreeModelLimitSettings {
  return {
    perMinute: env.FREE_MODEL_REQUESTS_PER_MINUTE,
    perDay: env.FREE_MODEL_REQUESTS_PER_DAY,
    perDayAfterPurchase: env.FREE_MODEL_REQUESTS_PER_DAY_AFTER_PURCHASE,
    purchaseThresholdMicros: parseUsd(env.FREE_MODEL_PURCHASE_THRESHOLD_USD),
  };
}

/**
 * What a tier allows. Free: free models only (price 0, ids usually ending in ":free"), no
 * payment method needed. Developer: every model, pay as you go. Enterprise: every model, custom
 * terms, IP allowlists, longer audit retention. Requests on free models are rate-limited per
 * account on Free and Developer (the free capacity is shared); Enterprise agreements are not.
 */
@Injectable()
export class TierPolicy {
  constructor(@Inject(FREE_MODEL_LIMITS) private readonly limits: FreeModelLimitSettings) {}

  mayUseModel(account: CachedAccount, price: PriceVersion): boolean {
    return account.tier !== 'free' || isFree(price);
  }

  /**
   * Whether usage that occurred at `occurredAtMs` may be charged (ingest). A Free account's paid
   * model is refused only from the moment it became Free: what occurred before a downgrade ran on
   * a paid tier and was authorized then, so it is charged. Without a recorded change (null), the
   * account has been Free since it was created.
   */
  mayHaveUsedModel(account: CachedAccount, price: PriceVersion, occurredAtMs: number): boolean {
    if (this.mayUseModel(account, price)) return true;
    return account.tierChangedAt !== null && occurredAtMs < account.tierChangedAt.getTime();
  }

  /** Limits for a request on `price`, or null when none apply. */
  freeModelLimits(account: CachedAccount, price: PriceVersion): { perMinute: number; perDay: number } | null {
    if (!isFree(price) || account.tier === 'enterprise') return null;
    const raised = account.purchasedMicros >= this.limits.purchaseThresholdMicros;
    return {
      perMinute: this.limits.perMinute,
      perDay: raised ? this.limits.perDayAfterPurchase : this.limits.perDay,
    };
  }
}
