import { balanceFloorMicros } from '@app/catalog';
import { Sql, Tx } from '@app/db';
import { Injectable } from '@nestjs/common';
import { DAY_MS, HOUR_MS, MonthPeriod, monthPeriodOf } from './projections';

/** What a projection starts from, for one account at one instant. */
export interface UsageTotals {
  balanceMicros: bigint;
  /** 0, or -credit limit on invoice billing: how low usage can take the balance. */
  balanceFloorMicros: bigint;
  monthToDateMicros: bigint;
  usageLast24hMicros: bigint;
  usageLast7dMicros: bigint;
}

export type BudgetScope = 'account' | 'api_key' | 'project';

/**
 * Spend read from Postgres. Usage counts in the month its batch was charged: the account's spend
 * is the sum of its usage ledger debits by created_at, read from their hourly rollup
 * (`usage_spend_hourly`, kept by a trigger on every ledger insert); an API key's or project's is
 * the sum of its events' costs by received_at (the same instant to within the batch's processing
 * time), read from `usage_scope_spend_hourly` (kept by a trigger on every event insert).
 */
@Injectable()
export class SpendRepository {
  /**
   * Balance and its floor, month-to-date usage and usage over the last 24 h and 7 days of each account, all
   * from one snapshot. Debits have no upper time bound: a batch whose transaction started after
   * `now` (created_at is its start) but committed before this statement is in the balance, so it
   * must be in the spend too, or balance = grants - spend breaks by that batch.
   *
   * Month to date is whole hours of the rollup (a month starts on an hour). The 24 h and 7 d
   * windows start mid-hour: the rollup gives the whole hours after their start and the ledger the
   * part of the hour they start in, so a window reads at most one hour of ledger rows however busy
   * the account is, and the sums are those of the ledger rows to the micro.
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
    const dayHours = hourAfter(dayAgo);
    const weekHours = hourAfter(weekAgo);
    const from = month < weekHours ? month : weekHours;
    const rows = await sql<
      {
        account_id: string;
        balance: bigint;
        billing_mode: 'prepaid' | 'invoice' | null;
        credit_limit_micros: bigint | null;
        mtd: bigint;
        d1: bigint;
        d7: bigint;
      }[]
    >`
      select a.id as account_id, b.balance, acct.billing_mode, acct.credit_limit_micros,
             r.mtd, r.d1 + l1.spend as d1, r.d7 + l7.spend as d7
      from unnest(${accountIds as string[]}::uuid[]) as a(id)
      left join accounts acct on acct.id = a.id
      cross join lateral (
        select coalesce(sum(balance_micros), 0)::bigint as balance from account_balances where account_id = a.id
      ) b
      cross join lateral (
        select coalesce(sum(spend_micros) filter (where hour >= ${month}), 0)::bigint as mtd,
               coalesce(sum(spend_micros) filter (where hour >= ${dayHours}), 0)::bigint as d1,
               coalesce(sum(spend_micros) filter (where hour >= ${weekHours}), 0)::bigint as d7
        from usage_spend_hourly where account_id = a.id and hour >= ${from}
      ) r
      cross join lateral (${this.ledgerUsage(sql, dayAgo, dayHours)}) l1
      cross join lateral (${this.ledgerUsage(sql, weekAgo, weekHours)}) l7`;
    return new Map(
      rows.map((row) => [
        row.account_id,
        {
          balanceMicros: row.balance,
          balanceFloorMicros: balanceFloorMicros({
            billingMode: row.billing_mode ?? 'prepaid',
            creditLimitMicros: row.credit_limit_micros ?? 0n,
          }),
          monthToDateMicros: row.mtd,
          usageLast24hMicros: row.d1,
          usageLast7dMicros: row.d7,
        },
      ]),
    );
  }

  /** Usage debits of the outer query's account `a` with created_at in (after, before). */
  private ledgerUsage(sql: Sql | Tx, after: Date, before: Date) {
    return sql`
      select coalesce(sum(-amount_micros), 0)::bigint as spend from ledger_entries
      where account_id = a.id and kind = 'usage' and created_at > ${after} and created_at < ${before}`;
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
      // A month is whole hours: its rollup rows are exactly its debits.
      const [row] = await sql<{ total: bigint }[]>`
        select coalesce(sum(spend_micros), 0)::bigint as total from usage_spend_hourly
        where account_id = ${accountId} and hour >= ${period.start} and hour < ${period.end}`;
      return row.total;
    }
    // A month is whole hours of received_at: its rollup rows are exactly its events.
    const [row] = await sql<{ total: bigint }[]>`
      select coalesce(sum(spend_micros), 0)::bigint as total from usage_scope_spend_hourly
      where account_id = ${accountId} and scope = ${scope} and scope_id = ${scopeId}
        and received_hour >= ${period.start} and received_hour < ${period.end}`;
    return row.total;
  }
}

/** The first UTC hour boundary strictly after `at`. */
export function hourAfter(at: Date): Date {
  return new Date((Math.floor(at.getTime() / HOUR_MS) + 1) * HOUR_MS);
}
