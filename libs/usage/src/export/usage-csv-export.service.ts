import { DATABASE, DatabaseHandle } from '@app/db';
import { formatUsd } from '@app/money';
import { Inject, Injectable } from '@nestjs/common';
import { Readable } from 'node:stream';
import { UsageFilter, usageFilterSql } from '../usage-filter';
import { CsvColumn, openCsvStream } from './csv-stream';
import { ExportRange } from './export-range';

/** Rows fetched from Postgres per round trip; the stream holds about one batch at a time. */
export const EXPORT_CURSOR_ROWS = 1000;

interface UsageCsvRow {
  event_id: string;
  occurred_at: string;
  received_at: string;
  api_key_id: string | null;
  project_id: string | null;
  model_id: string;
  prompt_tokens: number;
  completion_tokens: number;
  cached_tokens: number;
  reasoning_tokens: number;
  cost_micros: bigint;
  price_version: number | null;
}

/**
 * The columns of usage.csv. Cost is USD with six decimals (exact micros, the unit events are
 * charged in); timestamps are ISO-8601 UTC with Postgres's microseconds. Token counts are the
 * event's own: cached tokens are part of prompt tokens, reasoning tokens part of completion tokens.
 */
export const USAGE_CSV_COLUMNS: readonly CsvColumn<UsageCsvRow>[] = [
  { header: 'event_id', value: (row) => row.event_id, clientText: true },
  { header: 'occurred_at', value: (row) => row.occurred_at },
  { header: 'received_at', value: (row) => row.received_at },
  { header: 'api_key_id', value: (row) => row.api_key_id },
  { header: 'project_id', value: (row) => row.project_id },
  { header: 'model', value: (row) => row.model_id },
  { header: 'prompt_tokens', value: (row) => row.prompt_tokens },
  { header: 'completion_tokens', value: (row) => row.completion_tokens },
  { header: 'cached_prompt_tokens', value: (row) => row.cached_tokens },
  { header: 'reasoning_tokens', value: (row) => row.reasoning_tokens },
  { header: 'cost_usd', value: (row) => formatUsd(row.cost_micros) },
  { header: 'price_version', value: (row) => row.price_version },
];

/** Per-request usage of one account as CSV, oldest first, streamed from a Postgres cursor. */
@Injectable()
export class UsageCsvExport {
  constructor(@Inject(DATABASE) private readonly database: DatabaseHandle) {}

  /**
   * Events with from <= occurred_at < to, of the filter's model, key and project if set. Rejects
   * (before any byte) when the query cannot start.
   */
  open(accountId: string, range: ExportRange, filter: UsageFilter = {}): Promise<Readable> {
    const { sql } = this.database;
    // One statement, so one snapshot: events committed while the export runs are either all in or out.
    // The scalar subquery keeps the index order (occurred_at, event_id), so Postgres never sorts.
    const rows = sql<UsageCsvRow[]>`
      select e.event_id,
             to_char(e.occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as occurred_at,
             to_char(e.received_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as received_at,
             e.api_key_id, e.project_id, e.model_id,
             e.prompt_tokens, e.completion_tokens, e.cached_tokens, e.reasoning_tokens, e.cost_micros,
             (select p.version from model_prices p where p.id = e.price_version_id) as price_version
      from usage_events e
      where e.account_id = ${accountId}
        and e.occurred_at >= ${range.from}
        and e.occurred_at < ${range.to}
        ${usageFilterSql(sql, filter)}
      order by e.occurred_at, e.event_id`.cursor(EXPORT_CURSOR_ROWS);
    return openCsvStream(USAGE_CSV_COLUMNS, rows);
  }
}
