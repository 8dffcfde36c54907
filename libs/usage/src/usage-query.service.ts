import { DATABASE, DatabaseHandle, decodeKeysetCursor, encodeKeysetCursor } from '@app/db';
import { formatUsd } from '@app/money';
import { Inject, Injectable } from '@nestjs/common';

export interface UsageQuery {
  accountId: string;
  from?: Date;
  to?: Date;
  limit: number;
  cursor?: string;
}

export interface UsageRow {
  event_id: string;
  model: string;
  prompt_tokens: number;
  completion_tokens: number;
  cached_tokens: number;
  reasoning_tokens: number;
  cost: string;
  api_key_id: string | null;
  project_id: string | null;
  occurred_at: string;
}

/** Per-event usage of one account, newest first, keyset-paginated on (occurred_at, event_id). */
@Injectable()
export class UsageQueryService {
  constructor(@Inject(DATABASE) private readonly database: DatabaseHandle) {}

  async list(query: UsageQuery): Promise<{ data: UsageRow[]; next_cursor: string | null }> {
    const { sql } = this.database;
    const cursor = query.cursor ? decodeKeysetCursor(query.cursor) : null;
    const rows = await sql<
      {
        event_id: string;
        model_id: string;
        prompt_tokens: number;
        completion_tokens: number;
        cached_tokens: number;
        reasoning_tokens: number;
        cost_micros: bigint;
        api_key_id: string | null;
        project_id: string | null;
        occurred_at: Date;
        occurred_at_text: string;
      }[]
    >`
      select event_id, model_id, prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, cost_micros,
             api_key_id, project_id, occurred_at,
             to_char(occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as occurred_at_text
      from usage_events
      where account_id = ${query.accountId}
        ${query.from ? sql`and occurred_at >= ${query.from}` : sql``}
        ${query.to ? sql`and occurred_at < ${query.to}` : sql``}
        ${cursor ? sql`and (occurred_at, event_id) < (${cursor.at}::text::timestamptz, ${cursor.id})` : sql``}
      order by occurred_at desc, event_id desc
      limit ${query.limit + 1}`;
    const page = rows.slice(0, query.limit);
    const last = page[page.length - 1];
    return {
      data: page.map((row) => ({
        event_id: row.event_id,
        model: row.model_id,
        prompt_tokens: row.prompt_tokens,
        completion_tokens: row.completion_tokens,
        cached_tokens: row.cached_tokens,
        reasoning_tokens: row.reasoning_tokens,
        cost: formatUsd(row.cost_micros),
        api_key_id: row.api_key_id,
        project_id: row.project_id,
        occurred_at: row.occurred_at.toISOString(),
      })),
      // The cursor keeps microseconds (Postgres precision), so no row is skipped or repeated between pages.
      next_cursor:
        rows.length > query.limit && last
          ? encodeKeysetCursor({ at: last.occurred_at_text, id: last.event_id })
          : null,
    };
  }
}
