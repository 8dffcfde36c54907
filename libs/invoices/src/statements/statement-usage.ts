import { Tx } from '@app/db';
import { StatementPeriod, statementPeriod } from './statement-period';

/**
 * How far before the previous statement's month late usage is looked for. Ingest refuses events
 * older than 35 days, so an older one was accepted over a month before that statement was issued
 * and still not committed: a batch that failed for a month, which the failed-usage alert reports.
 */
const LATE_USAGE_LOOKBACK_MS = 35 * 86_400_000;

/** The account's latest statement of a month before the one being rated. */
export interface PreviousStatement {
  period: StatementPeriod;
  /** pg_snapshot its usage was read in; null for statements from before migration 0005. */
  usageSnapshot: string | null;
}

/**
 * accounts.invoice_billing_since as Postgres prints it (::text): compared with persisted_at in
 * SQL, to the microsecond a JavaScript Date would drop.
 */
export type InvoiceBillingSince = string;

export interface CoveredUsage {
  model: string;
  /** "YYYY-MM" of occurred_at (UTC): the statement's own month, or an earlier one for late usage. */
  month: string;
  tokens: bigint;
  costMicros: bigint;
}

export interface StatementUsage {
  rows: CoveredUsage[];
  /** The snapshot the rows were read in (the statement's own, to record on it); null without rows. */
  snapshot: string | null;
}

/**
 * The usage a statement covers: every event charged while the account was on invoice billing
 * (persisted at or after `since`) that occurred before the end of its month and is on no earlier
 * statement. An earlier statement covers the events that occurred before the end of its month and
 * that its snapshot saw (pg_visible_in_snapshot of the inserting transaction), so each event is on
 * exactly one statement: the first one whose snapshot sees it. Usage committed after a month was
 * invoiced (a gateway that sent it late, a batch that waited out an outage) goes on the next
 * statement, as lines of its own month, instead of never being invoiced.
 *
 * `since` is when the account's current run of invoice billing began (accounts.
 * invoice_billing_since). An event's charging time is persisted_at, the now() of the transaction
 * that stored it, which the usage worker opens right after deducting it: usage charged before the
 * switch was paid from prepaid credits, also in the switch's month, also when it occurred after a
 * statement of an earlier run of invoice billing, and billing it would charge the customer twice.
 * Usage charged from the switch on is billed, also when it occurred before (back-dated events).
 */
export async function readStatementUsage(
  tx: Tx,
  accountId: string,
  period: StatementPeriod,
  previous: PreviousStatement | null,
  since: InvoiceBillingSince,
): Promise<StatementUsage> {
  // An event charged from `since` on was accepted at most 35 days after it occurred, so nothing
  // older can count; nor, with a previous statement, anything older than its late-usage lookback.
  const previousFrom = previous ? new Date(previous.period.start.getTime() - LATE_USAGE_LOOKBACK_MS) : null;
  const from = tx`greatest(${since}::timestamptz - make_interval(secs => ${LATE_USAGE_LOOKBACK_MS / 1000}),
                           ${previousFrom}::timestamptz)`;
  const onPreviousStatement = previous
    ? tx`occurred_at < ${previous.period.end} and (xact_id is null
         or coalesce(pg_visible_in_snapshot(xact_id, ${previous.usageSnapshot}::pg_snapshot), false))`
    : tx`false`;
  const rows = await tx<
    { model_id: string; month: string; tokens: bigint; cost: bigint; snapshot: string }[]
  >`
    select model_id, to_char(occurred_at at time zone 'UTC', 'YYYY-MM') as month,
           sum(prompt_tokens::bigint + completion_tokens::bigint)::bigint as tokens,
           sum(cost_micros)::bigint as cost,
           (select pg_current_snapshot()::text) as snapshot
    from usage_events
    where account_id = ${accountId} and occurred_at >= ${from} and occurred_at < ${period.end}
      and persisted_at >= ${since}::timestamptz and not (${onPreviousStatement})
    group by 1, 2 order by 2, 1`;
  return {
    rows: rows.map((row) => ({
      model: row.model_id,
      month: row.month,
      tokens: row.tokens,
      costMicros: row.cost,
    })),
    snapshot: rows[0]?.snapshot ?? null,
  };
}

/** The account's statement of the latest month before `period`, if any. */
export async function previousStatement(
  tx: Tx,
  accountId: string,
  period: StatementPeriod,
): Promise<PreviousStatement | null> {
  const [row] = await tx<{ month: string; usage_snapshot: string | null }[]>`
    select to_char(period_start, 'YYYY-MM') as month, usage_snapshot::text as usage_snapshot from invoices
    where account_id = ${accountId} and kind = 'usage_statement' and period_start < ${period.firstDay}::date
    order by period_start desc limit 1`;
  return row ? { period: statementPeriod(row.month)!, usageSnapshot: row.usage_snapshot } : null;
}
