import { TokenPrices } from '@app/money';

export type AccountTier = 'free' | 'developer' | 'enterprise';
export type AccountStatus = 'active' | 'suspended' | 'closed';

/** What ingest and workers need to know about an account, cached in each process. */
export interface CachedAccount {
  id: string;
  tier: AccountTier;
  status: AccountStatus;
}

export interface PriceVersion extends TokenPrices {
  /** model_prices.id, stored with every event rated at this version. */
  id: number;
  modelId: string;
  version: number;
  effectiveFrom: Date;
}

export function isFree(price: TokenPrices): boolean {
  return (
    price.promptMicrosPerMtok === 0n &&
    price.completionMicrosPerMtok === 0n &&
    price.cachedMicrosPerMtok === 0n &&
    price.reasoningMicrosPerMtok === 0n
  );
}
