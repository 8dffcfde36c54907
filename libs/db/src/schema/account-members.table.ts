import { sql } from 'drizzle-orm';
import { check, index, pgEnum, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { accounts } from './accounts.table';

/** What a member (and an API key acting for one) may do in its workspace; see libs/access. */
export const memberRole = pgEnum('member_role', ['owner', 'admin', 'billing', 'member']);

/** People in a team workspace (an account). No per-seat fees: members cost nothing. */
export const accountMembers = pgTable(
  'account_members',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    accountId: uuid('account_id')
      .notNull()
      .references(() => accounts.id),
    email: text('email').notNull(),
    name: text('name'),
    role: memberRole('role').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [
    uniqueIndex('account_members_account_email_key').on(table.accountId, sql`lower(${table.email})`),
    // Exactly one owner per workspace: ownership moves by promoting another member, which demotes the owner.
    uniqueIndex('account_members_one_owner_key')
      .on(table.accountId)
      .where(sql`${table.role} = 'owner'`),
    index('account_members_account_idx').on(table.accountId, table.createdAt),
    check('account_members_email_not_blank', sql`length(trim(${table.email})) > 0`),
  ],
);

export type AccountMember = typeof accountMembers.$inferSelect;
export type MemberRole = (typeof memberRole.enumValues)[number];
