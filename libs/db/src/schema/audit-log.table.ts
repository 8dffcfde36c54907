import { bigserial, index, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';

/**
 * Who changed what: money, settings, keys, members, allowlists. Written in the same transaction
 * as the change it records. Pruned per the account's tier (libs/audit), so no foreign key: the
 * log of an account outlives nothing it refers to, and pruning never waits on other tables.
 */
export const auditLog = pgTable(
  'audit_log',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    accountId: uuid('account_id').notNull(),
    /** admin (ADMIN_TOKEN), api_key, gateway or system (workers, schedulers). */
    actorType: text('actor_type').notNull(),
    /** The API key id for api_key actors; null otherwise. */
    actorId: text('actor_id'),
    /** Dotted verb, e.g. api_key.revoked, member.role_changed, credits.granted. */
    action: text('action').notNull(),
    targetType: text('target_type').notNull(),
    targetId: text('target_id'),
    before: jsonb('before'),
    after: jsonb('after'),
    sourceIp: text('source_ip'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [
    index('audit_log_account_created_idx').on(table.accountId, table.createdAt.desc(), table.id.desc()),
    index('audit_log_created_idx').on(table.createdAt),
  ],
);

export type AuditLogRow = typeof auditLog.$inferSelect;
