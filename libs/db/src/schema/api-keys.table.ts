import { sql } from 'drizzle-orm';
import {
  bigint,
  check,
  customType,
  index,
  pgEnum,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { accountMembers, memberRole } from './account-members.table';
import { accounts } from './accounts.table';
import { projects } from './projects.table';

const bytea = customType<{ data: Buffer }>({ dataType: () => 'bytea' });

/** Credit limits reset at the start of each UTC day, ISO week (Monday) or calendar month. */
export const keyLimitPeriod = pgEnum('key_limit_period', ['daily', 'weekly', 'monthly']);

/**
 * Workspace API keys. The secret is shown once at creation; only its public prefix and a SHA-256
 * of the whole key are stored, so a database dump holds nothing that authenticates. (The secret
 * is 256 random bits, so a fast hash is enough: there is nothing to brute-force.)
 */
export const apiKeys = pgTable(
  'api_keys',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    accountId: uuid('account_id')
      .notNull()
      .references(() => accounts.id),
    projectId: uuid('project_id').references(() => projects.id),
    /** The member the key belongs to, if any; removing the member revokes the key. */
    memberId: uuid('member_id').references(() => accountMembers.id),
    name: text('name').notNull(),
    /** What the key may do on account routes: a role, never above its creator's. */
    role: memberRole('role').notNull(),
    /** Public lookup part of the key ("bk_<prefix>_<secret>"), unique. */
    prefix: text('prefix').notNull(),
    secretHash: bytea('secret_hash').notNull(),
    limitMicros: bigint('limit_micros', { mode: 'bigint' }),
    limitPeriod: keyLimitPeriod('limit_period'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
    revokedAt: timestamp('revoked_at', { withTimezone: true }),
  },
  (table) => [
    uniqueIndex('api_keys_prefix_key').on(table.prefix),
    index('api_keys_account_idx').on(table.accountId, table.createdAt),
    index('api_keys_updated_at_idx').on(table.updatedAt),
    check('api_keys_limit_complete', sql`(${table.limitMicros} is null) = (${table.limitPeriod} is null)`),
    check('api_keys_limit_positive', sql`${table.limitMicros} is null or ${table.limitMicros} > 0`),
    check('api_keys_name_not_blank', sql`length(trim(${table.name})) > 0`),
  ],
);

export type ApiKey = typeof apiKeys.$inferSelect;
export type KeyLimitPeriod = (typeof keyLimitPeriod.enumValues)[number];
