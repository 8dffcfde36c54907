import { Sql, Tx } from '@app/db';
import { Injectable } from '@nestjs/common';
import postgres from 'postgres';
import { AuditEntry } from './audit-entry';

/** The caller's transaction (or, for a change that is a single statement, the plain client). */
export type AuditSql = Sql | Tx;

/** Compared after lowercasing and dropping `_`/`-`, so secretHash and SECRET_HASH match too. */
const SECRET_PROPERTIES = new Set(['secret', 'key', 'token', 'password', 'secrethash']);

function isSecretProperty(name: string): boolean {
  return SECRET_PROPERTIES.has(name.toLowerCase().replace(/[_-]/g, ''));
}

/**
 * What jsonb will hold: bigints (money in micros) as decimal strings, since JSON has no integer
 * type wide enough, and secret-named properties dropped. Array indices never match a name.
 */
export function toAuditJson(value: unknown): postgres.JSONValue | null {
  if (value === null || value === undefined) return null;
  const text = JSON.stringify(value, (name: string, inner: unknown) => {
    if (name !== '' && isSecretProperty(name)) return undefined;
    return typeof inner === 'bigint' ? inner.toString() : inner;
  });
  // undefined when the value itself does not serialise (a function, a symbol).
  return text === undefined ? null : (JSON.parse(text) as postgres.JSONValue);
}

/**
 * Appends to audit_log inside the caller's transaction, so an audit row commits or rolls back
 * with the change it describes; there is never a change without its row, or a row without it.
 */
@Injectable()
export class AuditLogService {
  async record(tx: AuditSql, entry: AuditEntry): Promise<void> {
    await this.recordMany(tx, [entry]);
  }

  async recordMany(tx: AuditSql, entries: readonly AuditEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const rows = entries.map((entry) => {
      const before = toAuditJson(entry.before);
      const after = toAuditJson(entry.after);
      return {
        account_id: entry.accountId,
        actor_type: entry.actor.type,
        actor_id: entry.actor.id,
        action: entry.action,
        target_type: entry.targetType,
        target_id: entry.targetId,
        // SQL null rather than jsonb 'null': "no state" (a create's before) is not a JSON value.
        before: before === null ? null : tx.json(before),
        after: after === null ? null : tx.json(after),
        source_ip: entry.actor.ip,
      };
    });
    await tx`
      insert into audit_log ${tx(
        rows,
        'account_id',
        'actor_type',
        'actor_id',
        'action',
        'target_type',
        'target_id',
        'before',
        'after',
        'source_ip',
      )}`;
  }
}
