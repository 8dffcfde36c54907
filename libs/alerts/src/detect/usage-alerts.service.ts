import { CachedBudget, CatalogCache } from '@app/catalog';
import { DATABASE, DatabaseHandle, Tx } from '@app/db';
import { formatUsd } from '@app/money';
import { AlertCounter, ChangeAlertRules } from '@app/ledger';
import {
  BudgetCounterRef,
  CommittedAlertChange,
  RaisedAlert,
  RaiseOutcome,
  RatedEvent,
  UsageAlertHook,
} from '@app/usage';
import { Inject, Injectable } from '@nestjs/common';
import { BudgetThresholdDetails, projectionDetails } from '../alert-details';
import { AlertRaiser, NewAlert } from '../alert-raiser.service';
import { monthPeriodOf, percentUsed, previousMonthId, project, thresholdMicros } from '../projections';
import { SpendRepository } from '../spend.repository';
import { budgetCounterField, countersInRecord, parseAlertRecord } from './alert-record';
import { lowBalanceRearmMicros } from './low-balance';

/**
 * Dedupe key of a budget threshold: once per budget, amount, threshold and UTC month. With the
 * amount in it, a raised budget alerts its thresholds again (they are new amounts of money); an
 * amount set back to an earlier one does not repeat what already fired under it.
 */
export function budgetAlertKey(
  budgetId: string,
  amountMicros: bigint,
  percent: number,
  period: string,
): string {
  return `budget:${budgetId}:${amountMicros}:${percent}:${period}`;
}

/** Dedupe key of a low-balance alert: the change (usage batch) that crossed, once per arming. */
export function lowBalanceAlertKey(accountId: string, changeKey: string): string {
  return `low_balance:${accountId}:${changeKey}`;
}

/**
 * Budget and low-balance alerts of usage batches (USAGE_ALERTS for libs/usage). The usage worker
 * passes `rulesFor` to reserve-change.lua, which adds the batch's spend to month counters and
 * checks the thresholds and the low-balance line in the deducting call; `raise` turns the
 * committed attempt's crossings into alert rows inside the batch's transaction.
 */
@Injectable()
export class UsageAlertsService implements UsageAlertHook {
  constructor(
    private readonly catalog: CatalogCache,
    private readonly spend: SpendRepository,
    private readonly raiser: AlertRaiser,
    @Inject(DATABASE) private readonly database: DatabaseHandle,
  ) {}

  rulesFor(accountId: string, events: readonly RatedEvent[], now: Date): ChangeAlertRules | undefined {
    const rules = this.catalog.alertRulesOf(accountId);
    if (!rules) return undefined;
    const period = monthPeriodOf(now);
    const budgets: CachedBudget[] = [];
    const counters: AlertCounter[] = [];
    for (const budget of rules.budgets) {
      let delta = 0n;
      for (const event of events) if (inScope(budget, event)) delta += event.costMicros;
      if (delta === 0n) continue;
      budgets.push(budget);
      counters.push({
        field: budgetCounterField(budget.scope, budget.scopeId, period.id),
        deltaMicros: delta,
        thresholds: budget.thresholds.map((percent) => ({
          percent,
          amountMicros: thresholdMicros(budget.amountMicros, percent),
        })),
      });
    }
    // Invoice billing runs below zero on credit by design: no low-balance alerts (budgets still apply).
    const line = this.catalog.account(accountId)?.billingMode === 'invoice' ? null : rules.lowBalanceMicros;
    if (counters.length === 0 && line === null) return undefined;
    return {
      lowBalanceMicros: line,
      rearmMicros: line === null ? null : lowBalanceRearmMicros(line),
      keepFromMonth: previousMonthId(period),
      counters,
      seedCounters: () =>
        Promise.all(
          budgets.map((budget) =>
            this.spend.scopeSpend(this.database.sql, accountId, budget.scope, budget.scopeId, period),
          ),
        ),
    };
  }

  countersOf(alertRecord: string): BudgetCounterRef[] {
    return countersInRecord(alertRecord);
  }

  async raise(tx: Tx, batchId: string, changes: readonly CommittedAlertChange[]): Promise<RaiseOutcome> {
    const now = new Date();
    const unreached = new Map<string, Set<string>>();
    const crossings = changes.flatMap((change) =>
      parseAlertRecord(change.alertRecord).map((crossing) => ({
        accountId: change.accountId,
        crossing,
        counterSpend: change.counterSpend,
      })),
    );
    if (crossings.length === 0) return { raised: [], unreached };
    const totals = await this.spend.usageTotals(tx, [...new Set(crossings.map((c) => c.accountId))], now);
    const names = await this.scopeNames(
      tx,
      crossings.flatMap(({ crossing }) =>
        crossing.type === 'budget' && crossing.scopeId ? [crossing.scopeId] : [],
      ),
    );
    const alerts: NewAlert[] = [];
    for (const { accountId, crossing, counterSpend } of crossings) {
      const rules = this.catalog.alertRulesOf(accountId);
      const accountTotals = totals.get(accountId);
      if (!rules || !accountTotals) continue;
      const accountBudget = rules.budgets.find((budget) => budget.scope === 'account')?.amountMicros ?? null;
      const projection = projectionDetails(project({ now, ...accountTotals }), accountBudget);
      if (crossing.type === 'low_balance') {
        // Turned off since the batch was reserved: nothing to say.
        if (rules.lowBalanceMicros === null) continue;
        alerts.push({
          accountId,
          kind: 'low_balance',
          dedupeKey: lowBalanceAlertKey(accountId, batchId),
          details: {
            balance: formatUsd(crossing.balanceMicros),
            threshold: formatUsd(rules.lowBalanceMicros),
            rearm_at: formatUsd(lowBalanceRearmMicros(rules.lowBalanceMicros)),
            projection,
          },
        });
        continue;
      }
      const budget = rules.budgets.find(
        (candidate) => candidate.scope === crossing.scope && candidate.scopeId === crossing.scopeId,
      );
      if (!budget) continue;
      // The counter as reserve read it, with this batch's spend replaced by what Postgres kept of it.
      const spendMicros =
        crossing.spendMicros -
        crossing.appliedMicros +
        (counterSpend.get(crossing.field) ?? crossing.appliedMicros);
      if (spendMicros < thresholdMicros(budget.amountMicros, crossing.percent)) {
        // Crossed only by events Postgres dropped as duplicates: not yet; settle re-arms the counter.
        if (!unreached.has(accountId)) unreached.set(accountId, new Set());
        unreached.get(accountId)!.add(crossing.field);
        continue;
      }
      const details: BudgetThresholdDetails = {
        budget_id: budget.id,
        scope: budget.scope,
        scope_id: budget.scopeId,
        scope_name: budget.scopeId ? (names.get(budget.scopeId) ?? null) : null,
        period: crossing.period,
        threshold_percent: crossing.percent,
        budget: formatUsd(budget.amountMicros),
        spend: formatUsd(spendMicros),
        percent_used: percentUsed(spendMicros, budget.amountMicros),
        projection,
      };
      alerts.push({
        accountId,
        kind: 'budget_threshold',
        dedupeKey: budgetAlertKey(budget.id, budget.amountMicros, crossing.percent, crossing.period),
        details,
      });
    }
    return { raised: await this.raiser.raiseMany(tx, alerts), unreached };
  }

  dispatch(alerts: readonly RaisedAlert[]): Promise<void> {
    return this.raiser.dispatch(alerts);
  }

  private async scopeNames(tx: Tx, ids: string[]): Promise<Map<string, string>> {
    if (ids.length === 0) return new Map();
    const rows = await tx<{ id: string; name: string }[]>`
      select id::text, name from api_keys where id = any(${ids}::uuid[])
      union all select id::text, name from projects where id = any(${ids}::uuid[])`;
    return new Map(rows.map((row) => [row.id, row.name]));
  }
}

function inScope(budget: CachedBudget, event: RatedEvent): boolean {
  if (budget.scope === 'account') return true;
  if (budget.scope === 'api_key') return event.apiKeyId === budget.scopeId;
  return event.projectId === budget.scopeId;
}
