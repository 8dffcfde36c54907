import { TokenPrices } from '@app/money';

export type AccountTier = 'free' | 'developer' | 'enterprise';
export type AccountStatus = 'active' | 'suspended' | 'closed';

/** What ingest and workers need to know about an account, cached in each process. */
export interface CachedAccount {
  id: string;
  tier: AccountTier;
  status: AccountStatus;
  /** Credits ever bought, in micros (raises free-model daily limits). */
  purchasedMicros: bigint;
  /** Normalised CIDRs allowed on account-facing routes; empty = any address. */
  ipAllowlist: string[];
}

export type MemberRole = 'owner' | 'admin' | 'billing' | 'member';
export type KeyLimitPeriod = 'daily' | 'weekly' | 'monthly';

/** An API key as authentication and rating need it. The secret itself is never stored. */
export interface CachedApiKey {
  id: string;
  accountId: string;
  projectId: string | null;
  role: MemberRole;
  prefix: string;
  /** SHA-256 of the whole key string. */
  secretHash: Buffer;
  limitMicros: bigint | null;
  limitPeriod: KeyLimitPeriod | null;
  revokedAt: Date | null;
}

export interface CachedProject {
  id: string;
  accountId: string;
  archivedAt: Date | null;
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
