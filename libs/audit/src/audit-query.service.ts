import { DATABASE, DatabaseHandle, decodeKeysetCursor, encodeKeysetCursor } from '@app/db';
import { Inject, Injectable } from '@nestjs/common';
import { AuditActor } from './audit-entry';

export const MAX_AUDIT_PAGE = 1000;

export interface AuditQuery {
  accountId: string;
  /** 1..MAX_AUDIT_PAGE. */
  limit: number;
  cursor?: string;
  from?: Date;
  to?: Date;
  /** Exact action, e.g. api_key.revoked. */
  action?: string;
}

export interface AuditLogView {
  id: string;
  action: string;
  actor: { type: AuditActor['type']; id: string | null };
  target: { type: string; id: string | null };
  before: unknown;
  after: unknown;
  source_ip: string | null;
  created_at: string;
}

/** An account's audit trail, newest first, keyset-paginated on (created_at, id). */
@Injectable()
export class AuditQueryService {
  constructor(@Inject(DATABASE) private readonly database: DatabaseHandle) {}

  async list(query: AuditQuery): Promise<{ entries: AuditLogView[]; next_cursor: string | null }> {
    if (!Number.isInteger(query.limit) || query.limit < 1 || query.limit > MAX_AUDIT_PAGE) {
      throw new RangeError(`limit must be an integer from 1 to ${MAX_AUDIT_PAGE}`);
    }
    const { sql } = this.database;
    const cursor = query.cursor ? decodeKeysetCursor(query.cursor, isAuditId) : null;
    const rows = await sql<
      {
        id: string;
        actor_type: AuditActor['type'];
        actor_id: string | null;
        action: string;
        target_type: string;
        target_id: string | null;
        before: unknown;
        after: unknown;
        source_ip: string | null;
        created_at: Date;
        created_at_text: string;
      }[]
    >`
      select id::text as id, actor_type, actor_id, action, target_type, target_id, before, after, source_ip,
             created_at,
             to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as created_at_text
      from audit_log
      where account_id = ${query.accountId}
        ${query.action ? sql`and action = ${query.action}` : sql``}
        ${query.from ? sql`and created_at >= ${query.from}` : sql``}
        ${query.to ? sql`and created_at < ${query.to}` : sql``}
        ${cursor ? sql`and (created_at, id) < (${cursor.at}::text::timestamptz, ${cursor.id}::bigint)` : sql``}
      order by created_at desc, id desc
      limit ${query.limit + 1}`;
    const page = rows.slice(0, query.limit);
    const last = page[page.length - 1];
    return {
      entries: page.map((row) => ({
        id: row.id,
        action: row.action,
        actor: { type: row.actor_type, id: row.actor_id },
        target: { type: row.target_type, id: row.target_id },
        before: row.before,
        after: row.after,
        source_ip: row.source_ip,
        created_at: row.created_at.toISOString(),
      })),
      // Microsecond precision: rows of one transaction share created_at and differ only by id.
      next_cursor:
        rows.length > query.limit && last
          ? encodeKeysetCursor({ at: last.created_at_text, id: last.id })
          : null,
    };
  }
}

const MAX_BIGINT = 2n ** 63n - 1n;

/** An audit_log id: a positive bigint (19 digits can exceed int8, and the cast would fail). */
function isAuditId(id: string): boolean {
  return /^\d{1,19}$/.test(id) && BigInt(id) <= MAX_BIGINT;
}
