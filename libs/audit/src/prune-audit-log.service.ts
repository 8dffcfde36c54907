import { DATABASE, DatabaseHandle } from '@app/db';
import { Inject, Injectable, Optional } from '@nestjs/common';
import { assertValidRetention, AUDIT_RETENTION, AuditRetention, retentionCutoff } from './audit-retention';

/** Rows per delete statement; optional provider so a test can prove the loop with a tiny batch. */
export const AUDIT_PRUNE_BATCH_SIZE = Symbol('AUDIT_PRUNE_BATCH_SIZE');

const DEFAULT_BATCH_SIZE = 10_000;

/**
 * Deletes audit rows older than the retention of the account's current tier, so an upgrade
 * keeps more history from then on and a downgrade drops it at the next run. Each batch is its
 * own short statement (no surrounding transaction), so a large backlog never holds locks long.
 * Rows whose account id is not in accounts are left alone: nothing says how long to keep them.
 */
@Injectable()
export class PruneAuditLogService {
  private readonly batchSize: number;

  constructor(
    @Inject(DATABASE) private readonly database: DatabaseHandle,
    @Inject(AUDIT_RETENTION) private readonly retention: AuditRetention,
    @Optional() @Inject(AUDIT_PRUNE_BATCH_SIZE) batchSize?: number,
  ) {
    assertValidRetention(retention);
    this.batchSize = batchSize ?? DEFAULT_BATCH_SIZE;
  }

  async prune(now = new Date()): Promise<{ deleted: number }> {
    const { sql } = this.database;
    const free = retentionCutoff(this.retention, 'free', now);
    const developer = retentionCutoff(this.retention, 'developer', now);
    const enterprise = retentionCutoff(this.retention, 'enterprise', now);
    // No row younger than the shortest retention can go: bounds the scan on audit_log_created_idx.
    const latestCutoff = new Date(Math.max(free.getTime(), developer.getTime(), enterprise.getTime()));
    let deleted = 0;
    for (;;) {
      // = any(array(...)) deletes by primary key; `in (select ...)` planned a full scan per batch.
      const result = await sql`
        delete from audit_log where id = any(array(
          select l.id from audit_log l
          join accounts a on a.id = l.account_id
          where l.created_at < ${latestCutoff}
            and l.created_at < (case a.tier when 'free' then ${free}::timestamptz
                                            when 'developer' then ${developer}::timestamptz
                                            else ${enterprise}::timestamptz end)
          limit ${this.batchSize}))`;
      deleted += result.count;
      if (result.count < this.batchSize) return { deleted };
    }
  }
}
