import { CatalogCache, isFree } from '@app/catalog';
import { BalanceStore } from '@app/ledger';
import { BillingMetrics } from '@app/metrics';
import { Injectable } from '@nestjs/common';

export type AuthorizeDecision =
  | { allowed: true; balanceMicros: bigint }
  | { allowed: false; reason: 'insufficient_credits' | 'account_inactive'; balanceMicros: bigint }
  | { allowed: false; reason: 'unknown_account' }
  | { allowed: false; reason: 'unknown_model' };

/**
 * "May this request run?" from in-process caches and one Redis read: a paid model needs a
 * positive balance; a free model runs at any balance. Balances may dip below zero by the
 * cost of requests already running, which are still charged in full.
 */
@Injectable()
export class AuthorizeUsageService {
  constructor(
    private readonly catalog: CatalogCache,
    private readonly balances: BalanceStore,
    private readonly metrics: BillingMetrics,
  ) {}

  async authorize(accountId: string, modelId: string): Promise<AuthorizeDecision> {
    const decision = await this.decide(accountId, modelId);
    this.metrics.authorizeDecisions.inc({
      outcome: decision.allowed ? 'allowed' : 'denied',
      reason: decision.allowed ? 'ok' : decision.reason,
    });
    return decision;
  }

  private async decide(accountId: string, modelId: string): Promise<AuthorizeDecision> {
    let account = this.catalog.account(accountId);
    let price = this.catalog.priceAt(modelId, Date.now());
    if (!account || !price) {
      await this.catalog.refreshIfStale();
      account = this.catalog.account(accountId);
      price = this.catalog.priceAt(modelId, Date.now());
    }
    if (!account) return { allowed: false, reason: 'unknown_account' };
    if (!price) return { allowed: false, reason: 'unknown_model' };
    const balanceMicros = (await this.balances.balanceOf(accountId)) ?? 0n;
    if (account.status !== 'active') return { allowed: false, reason: 'account_inactive', balanceMicros };
    if (!isFree(price) && balanceMicros <= 0n)
      return { allowed: false, reason: 'insufficient_credits', balanceMicros };
    return { allowed: true, balanceMicros };
  }
}
