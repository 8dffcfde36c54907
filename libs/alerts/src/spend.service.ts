import { DATABASE, DatabaseHandle } from '@app/db';
import { Inject, Injectable } from '@nestjs/common';
import { BudgetRecord, BudgetsService } from './budgets.service';
import { MonthPeriod, monthPeriodOf, project, Projection } from './projections';
import { SpendRepository } from './spend.repository';

export interface ScopedSpend {
  budget: BudgetRecord;
  spendMicros: bigint;
}

export interface SpendReport {
  period: MonthPeriod;
  projection: Projection;
  /** The account budget, if set. */
  accountBudget: BudgetRecord | null;
  /** Budgets of API keys and projects with their spend this period. */
  scoped: ScopedSpend[];
}

/** GET /v1/accounts/:id/spend: this UTC month's spend against the budgets, burn rates and projections. */
@Injectable()
export class SpendService {
  constructor(
    @Inject(DATABASE) private readonly database: DatabaseHandle,
    private readonly spend: SpendRepository,
    private readonly budgets: BudgetsService,
  ) {}

  async report(accountId: string, now = new Date()): Promise<SpendReport> {
    const { sql } = this.database;
    const period = monthPeriodOf(now);
    const totals = (await this.spend.usageTotals(sql, [accountId], now)).get(accountId)!;
    const budgets = await this.budgets.list(accountId);
    const scoped = await Promise.all(
      budgets
        .filter((budget) => budget.scope !== 'account')
        .map(async (budget) => ({
          budget,
          spendMicros: await this.spend.scopeSpend(sql, accountId, budget.scope, budget.scope_id, period),
        })),
    );
    return {
      period,
      projection: project({ now, ...totals }),
      accountBudget: budgets.find((budget) => budget.scope === 'account') ?? null,
      scoped,
    };
  }
}
