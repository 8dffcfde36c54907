import { Sql, Tx } from '@app/db';
import { occurredAtRangeOfReceived } from '@app/usage';
import { Injectable } from '@nestjs/common';
import { DAY_MS, MonthPeriod, monthPeriodOf } from './projections';

/** What a projection starts from, for one account at one instant. */
export interface UsageTotals {
  balanceMicros: bigint;
  monthToDateMicros: bigint;
  usageLast24hMicros: bigint;
  usageLast7dMicros: bigint;
}

export type BudgetScope = 'account' | 'api_key' | 'project';

/**
 * Spend read from Postgres. Usage counts in the month its batch was charged: the account's spend
 * is the sum of its usage ledger debits by created_at; an API key's or project's is the sum of
 * its events' costs by received_at (the same instant to within the batch's processing time).
 */
@Injectable()
export class SpendRepository {
  /**
   * Balance, month-to-date usage and usage over the last 24 h and 7 days of each account, all
   * from one snapshot. Debits have no upper time bound: a batch whose transaction started after
   * `now` (created_at is its start) but committed before this statement is in the balance, so it
   * must be in the spend too, or balance = grants - spend breaks by that batch.
   */
  async usageTotals(
    sql: Sql | Tx,
    accountIds: readonly string[],
    now: Date,
  ): Promise<Map<string, UsageTotals>> {
    if (accountIds.length === 0) return new Map();
    const month = monthPeriodOf(now).start;
    const dayAgo = new Date(now.getTime() - DAY_MS);
    const weekAgo = new Date(now.getTime() - 7 * DAY_MS);
    const from = month < weekAgo ? month : weekAgo;
    const rows = await sql<{ account_id: string; balance: bigint; mtd: bigint; d1: bigint; d7: bigint }[]>`
      select a.id as account_id,
        (select coalesce(sum(balance_micros), 0)::bigint from account_balances where account_id = a.id) as balance,
        coalesce(sum(-l.amount_micros) filter (where l.created_at >= ${month}), 0)::bigint as mtd,
        coalesce(sum(-l.amount_micros) filter (where l.created_at > ${dayAgo}), 0)::bigint as d1,
        coalesce(sum(-l.amount_micros) filter (where l.created_at > ${weekAgo}), 0)::bigint as d7
      from unnest(${accountIds as string[]}::uuid[]) as a(id)
      left join ledger_entries l on l.account_id = a.id and l.kind = 'usage'
        and l.created_at >= ${from}
      group by a.id`;
    return new Map(
      rows.map((row) => [
        row.account_id,
        {
          balanceMicros: row.balance,
          monthToDateMicros: row.mtd,
          usageLast24hMicros: row.d1,
          usageLast7dMicros: row.d7,
        },
      ]),
    );
  }

  /** Spend of one budget scope in a period (the seed of its Redis counter, and the spend API). */
  async scopeSpend(
    sql: Sql | Tx,
    accountId: string,
    scope: BudgetScope,
    scopeId: string | null,
    period: MonthPeriod,
  ): Promise<bigint> {
    if (scope === 'account') {
      const [row] = await sql<{ total: bigint }[]>`
        select coalesce(sum(-amount_micros), 0)::bigint as total from ledger_entries
        where account_id = ${accountId} and kind = 'usage'
          and created_at >= ${period.start} and created_at < ${period.end}`;
      return row.total;
    }
    const column = scope === 'api_key' ? sql`api_key_id` : sql`project_id`;
    // received_at has no index: bounding occurred_at too reads about the period plus 35 days of
    // the account's events instead of all of them (occurredAtRangeOfReceived).
    const occurred = occurredAtRangeOfReceived(period.start, period.end);
    const [row] = await sql<{ total: bigint }[]>`
      select coalesce(sum(cost_micros), 0)::bigint as total from usage_events
      where account_id = ${accountId} and ${column} = ${scopeId}
        and occurred_at >= ${occurred.from} and occurred_at < ${occurred.to}
        and received_at >= ${period.start} and received_at < ${period.end}`;
    return row.total;
  }
}
