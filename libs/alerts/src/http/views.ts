import { formatUsd } from '@app/money';
import { AlertSettingsRecord } from '../alert-settings.service';
import { BudgetRecord, BudgetTarget, DEFAULT_THRESHOLDS } from '../budgets.service';
import { percentUsed } from '../projections';
import { SpendReport } from '../spend.service';

/** A target without a budget reads as amount null, with the thresholds a new one would get. */
export function budgetView(budget: BudgetRecord | null, target: BudgetTarget) {
  if (!budget) {
    return {
      id: null,
      scope: target.scope,
      scope_id: target.scopeId,
      amount: null,
      period: 'month',
      thresholds: DEFAULT_THRESHOLDS,
      recipients: [],
      created_at: null,
      updated_at: null,
    };
  }
  return {
    id: budget.id,
    scope: budget.scope,
    scope_id: budget.scope_id,
    amount: formatUsd(budget.amount_micros),
    period: 'month',
    thresholds: budget.thresholds,
    recipients: budget.recipients,
    created_at: budget.created_at.toISOString(),
    updated_at: budget.updated_at.toISOString(),
  };
}

export function alertSettingsView(settings: AlertSettingsRecord) {
  return {
    account_id: settings.account_id,
    low_balance: settings.low_balance_micros === null ? null : formatUsd(settings.low_balance_micros),
    non_essential_enabled: settings.non_essential_enabled,
    recipients: settings.recipients,
    updated_at: settings.updated_at?.toISOString() ?? null,
  };
}

export function spendView(accountId: string, report: SpendReport) {
  const { projection, accountBudget, period } = report;
  const budget = accountBudget?.amount_micros ?? null;
  return {
    account_id: accountId,
    period: { id: period.id, start: period.start.toISOString(), end: period.end.toISOString() },
    as_of: projection.asOf.toISOString(),
    balance: formatUsd(projection.balanceMicros),
    spend: formatUsd(projection.monthToDateMicros),
    budget: budget === null ? null : formatUsd(budget),
    percent_used: budget === null ? null : percentUsed(projection.monthToDateMicros, budget),
    burn_rate_24h: formatUsd(projection.burnRate24hMicros),
    burn_rate_7d: formatUsd(projection.burnRate7dMicros),
    runs_out_at: projection.runsOutAt?.toISOString() ?? null,
    runs_out_at_24h: projection.runsOutAt24h?.toISOString() ?? null,
    projected_month_end_spend: formatUsd(projection.projectedMonthEndMicros),
    projected_percent_of_budget:
      budget === null ? null : percentUsed(projection.projectedMonthEndMicros, budget),
    budgets: report.scoped.map(({ budget: scoped, spendMicros }) => ({
      id: scoped.id,
      scope: scoped.scope,
      scope_id: scoped.scope_id,
      amount: formatUsd(scoped.amount_micros),
      spend: formatUsd(spendMicros),
      percent_used: percentUsed(spendMicros, scoped.amount_micros),
    })),
  };
}
