import { sql } from 'drizzle-orm';
import { check, index, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { accounts } from './accounts.table';

/** A project inside a workspace; usage and API keys can be attributed to one. */
export const projects = pgTable(
  'projects',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    accountId: uuid('account_id')
      .notNull()
      .references(() => accounts.id),
    name: text('name').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    // Caches sync incrementally on this column, as for accounts.
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
    /** Archived projects keep their usage history but take no new usage or keys. */
    archivedAt: timestamp('archived_at', { withTimezone: true }),
  },
  (table) => [
    uniqueIndex('projects_account_name_key').on(table.accountId, table.name),
    index('projects_updated_at_idx').on(table.updatedAt),
    check('projects_name_not_blank', sql`length(trim(${table.name})) > 0`),
  ],
);

export type Project = typeof projects.$inferSelect;
