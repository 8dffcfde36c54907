import { APP_CONFIG, ApiEnv } from '@app/config';
import { DATABASE, DatabaseHandle, Tx } from '@app/db';
import { ApiError } from '@app/http';
import { formatUsd } from '@app/money';
import { Inject, Injectable } from '@nestjs/common';
import { ExportRange } from '../export/export-range';
import { UsageFilter, usageFilterSql } from '../usage-filter';
import { SummaryDimension } from './summary-dimensions';

/**
 * The most rows one summary answers. Day x model x key x project over a year can reach millions;
 * a chart or a table has no use for more than this, and the caller narrows the range or the grouping.
 */
export const MAX_SUMMARY_ROWS = 10_000;

/** Sums of one group of events. Token sums are exact below 2^53, far beyond any real account. */
export interface UsageTotals {
  requests: number;
  prompt_tokens: number;
  completion_tokens: number;
  cached_tokens: number;
  reasoning_tokens: number;
  cost: string;
}

/** Which group a row sums: the dimensions asked for are set, the others absent. */
export interface SummaryGroup {
  day?: string;
  model?: string;
  api_key_id?: string | null;
  /** The key's name in the workspace (ingest accepts only the workspace's own key ids); null without a key. */
  api_key_name?: string | null;
  project_id?: string | null;
  project_name?: string | null;
}

export interface UsageSummaryRow extends SummaryGroup, UsageTotals {}

export interface UsageSummary {
  account_id: string;
  from: string;
  to: string;
  group_by: SummaryDimension[];
  data: UsageSummaryRow[];
  totals: UsageTotals;
}

interface SummaryRecord extends SummaryGroup {
  requests: bigint;
  prompt_tokens: bigint;
  completion_tokens: bigint;
  cached_tokens: bigint;
  reasoning_tokens: bigint;
  cost_micros: bigint;
}

/** Postgres's SQLSTATE for a statement cancelled, here by statement_timeout. */
const QUERY_CANCELED = '57014';

/** How each dimension is selected (its column in the answer) and ordered. */
const DIMENSION_SQL: Record<SummaryDimension, { select: string; order: string }> = {
  day: { select: `to_char(occurred_at at time zone 'UTC', 'YYYY-MM-DD') as day`, order: 'g.day' },
  model: { select: 'model_id as model', order: 'g.model' },
  api_key: { select: 'api_key_id', order: 'g.api_key_id nulls first' },
  project: { select: 'project_id', order: 'g.project_id nulls first' },
};

const SUMMED = [
  'requests',
  'prompt_tokens',
  'completion_tokens',
  'cached_tokens',
  'reasoning_tokens',
] as const;

/**
 * An account's usage summed by day (UTC, of occurred_at), model, API key and project: the spend
 * breakdown of F13. Computed from the events themselves in one statement, so it agrees to the
 * micro with the per-event listing and usage.csv of the same range.
 */
@Injectable()
export class UsageSummaryService {
  constructor(
    @Inject(DATABASE) private readonly database: DatabaseHandle,
    @Inject(APP_CONFIG) private readonly config: Pick<ApiEnv, 'USAGE_SUMMARY_TIMEOUT_MS'>,
  ) {}

  /** `groupBy` holds at least one dimension, in SUMMARY_DIMENSIONS order (summaryDimensionsQuery). */
  async summarize(
    accountId: string,
    range: ExportRange,
    groupBy: SummaryDimension[],
    filter: UsageFilter = {},
  ): Promise<UsageSummary> {
    const by = new Set(groupBy);
    const keys = groupBy.map((dimension) => DIMENSION_SQL[dimension]);
    // Days in order, oldest first (a chart reads left to right); within a day, or without days, the biggest spend first.
    const ordering = [
      ...(by.has('day') ? [DIMENSION_SQL.day.order] : []),
      'g.cost_micros desc',
      ...groupBy
        .filter((dimension) => dimension !== 'day')
        .map((dimension) => DIMENSION_SQL[dimension].order),
    ];
    // Only the constant expressions of DIMENSION_SQL go in unescaped; the caller's values are parameters.
    const rows = await this.withTimeout(
      (tx) => tx<SummaryRecord[]>`
      with g as (
        select ${tx.unsafe(keys.map((key) => key.select).join(', '))},
               count(*)::bigint as requests,
               sum(prompt_tokens)::bigint as prompt_tokens, sum(completion_tokens)::bigint as completion_tokens,
               sum(cached_tokens)::bigint as cached_tokens, sum(reasoning_tokens)::bigint as reasoning_tokens,
               sum(cost_micros)::bigint as cost_micros
        from usage_events
        where account_id = ${accountId} and occurred_at >= ${range.from} and occurred_at < ${range.to}
          ${usageFilterSql(tx, filter)}
        group by ${tx.unsafe(keys.map((_, i) => i + 1).join(', '))}
        limit ${MAX_SUMMARY_ROWS + 1}
      )
      select g.*
             ${by.has('api_key') ? tx`, k.name as api_key_name` : tx``}
             ${by.has('project') ? tx`, p.name as project_name` : tx``}
      from g
      ${by.has('api_key') ? tx`left join api_keys k on k.account_id = ${accountId} and k.id::text = g.api_key_id` : tx``}
      ${by.has('project') ? tx`left join projects p on p.account_id = ${accountId} and p.id::text = g.project_id` : tx``}
      order by ${tx.unsafe(ordering.join(', '))}`,
    );
    if (rows.length > MAX_SUMMARY_ROWS) {
      throw new ApiError(
        422,
        'too_many_groups',
        `more than ${MAX_SUMMARY_ROWS.toLocaleString('en-US')} groups: narrow the range or group by fewer dimensions`,
        { max_groups: MAX_SUMMARY_ROWS },
      );
    }
    return {
      account_id: accountId,
      from: range.from.toISOString(),
      to: range.to.toISOString(),
      group_by: groupBy,
      data: rows.map((row) => ({ ...keysOf(row, by), ...totalsOf([row]) })),
      totals: totalsOf(rows),
    };
  }

  /**
   * Runs the statement with USAGE_SUMMARY_TIMEOUT_MS as its limit: a summary over a heavy account's
   * year must not hold a connection and a core of the primary for minutes. Cancelled: 503.
   */
  private async withTimeout<T>(query: (tx: Tx) => Promise<T>): Promise<T> {
    const timeoutMs = this.config.USAGE_SUMMARY_TIMEOUT_MS;
    try {
      return (await this.database.sql.begin('read only', async (tx) => {
        await tx`select set_config('statement_timeout', ${String(timeoutMs)}, true)`;
        return query(tx);
      })) as T;
    } catch (error) {
      if ((error as { code?: string }).code !== QUERY_CANCELED) throw error;
      throw new ApiError(
        503,
        'summary_timeout',
        `the summary took longer than ${timeoutMs} ms: narrow the range, or filter by model, key or project`,
        { timeout_ms: timeoutMs },
      );
    }
  }
}

function keysOf(row: SummaryRecord, by: Set<SummaryDimension>): SummaryGroup {
  return {
    ...(by.has('day') && { day: row.day }),
    ...(by.has('model') && { model: row.model }),
    ...(by.has('api_key') && { api_key_id: row.api_key_id, api_key_name: row.api_key_name ?? null }),
    ...(by.has('project') && { project_id: row.project_id, project_name: row.project_name ?? null }),
  };
}

function totalsOf(rows: SummaryRecord[]): UsageTotals {
  const sum = (field: keyof SummaryRecord) => rows.reduce((total, row) => total + (row[field] as bigint), 0n);
  const totals = Object.fromEntries(SUMMED.map((field) => [field, Number(sum(field))]));
  return { ...(totals as Omit<UsageTotals, 'cost'>), cost: formatUsd(sum('cost_micros')) };
}
