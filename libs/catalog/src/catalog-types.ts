import { TokenPrices } from '@app/money';

export type AccountTier = 'free' | 'developer' | 'enterprise';
export type AccountStatus = 'active' | 'suspended' | 'closed';

/** What ingest and workers need to know about an account, cached in each process. */
export interface CachedAccount {
  id: string;
  tier: AccountTier;
  status: AccountStatus;
  /** When the account took its current tier; null: the tier it was created with. */
  tierChangedAt: Date | null;
  /** Credits ever bought, in micros (raises free-model daily limits). */
  purchasedMicros: bigint;
  /** Normalised CIDRs allowed on account-facing routes; empty = any address. */
  ipAllowlist: string[];
  /** invoice: enterprise net terms; usage may take the balance down to -creditLimitMicros. */
  billingMode: 'prepaid' | 'invoice';
  /** Invoice billing: how far below zero the balance may go before paid requests are refused. */
  creditLimitMicros: bigint;
}

/** The lowest balance at which an account's paid requests still run: 0, or -credit limit on invoice billing. */
export function balanceFloorMicros(
  account: Pick<CachedAccount, 'billingMode' | 'creditLimitMicros'>,
): bigint {
  return account.billingMode === 'invoice' ? -account.creditLimitMicros : 0n;
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

/** One monthly budget, as spending-alert detection needs it (libs/alerts). */
export interface CachedBudget {
  id: string;
  scope: 'account' | 'api_key' | 'project';
  scopeId: string | null;
  amountMicros: bigint;
  /** Whole percents, ascending. */
  thresholds: number[];
}

/** An account's spending-alert rules: alert_settings and budgets (libs/alerts). */
export interface CachedAlertRules {
  lowBalanceMicros: bigint | null;
  budgets: CachedBudget[];
}

export interface PriceVersion extends TokenPrices {
  /** model_prices.id, stored with every event rated at this version. */
  id: number;
  modelId: string;
  version: number;
  effectiveFrom: Date;
  /** highestMicrosPerMtok(this), kept so ingest bounds each event's cost without BigInt. */
  highestMicrosPerMtok: number;
}

export function isFree(price: TokenPrices): boolean {
  return (
    price.promptMicrosPerMtok === 0n &&
    price.completionMicrosPerMtok === 0n &&
    price.cachedMicrosPerMtok === 0n &&
    price.reasoningMicrosPerMtok === 0n
  );
}
