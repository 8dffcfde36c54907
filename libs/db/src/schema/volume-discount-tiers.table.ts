import { sql } from 'drizzle-orm';
import { bigint, check, integer, pgTable, primaryKey, uuid } from 'drizzle-orm/pg-core';
import { accounts } from './accounts.table';

/**
 * An enterprise agreement's volume discounts, graduated like tax brackets: the part of a month's
 * usage at or above `fromMicros` (up to the next tier) is discounted by `discountPpm`.
 */
export const volumeDiscountTiers = pgTable(
  'volume_discount_tiers',
  {
    accountId: uuid('account_id')
      .notNull()
      .references(() => accounts.id),
    fromMicros: bigint('from_micros', { mode: 'bigint' }).notNull(),
    /** Parts per million: 5 % is 50000. */
    discountPpm: integer('discount_ppm').notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.accountId, table.fromMicros] }),
    check('volume_discount_tiers_ppm_range', sql`${table.discountPpm} between 0 and 1000000`),
    check('volume_discount_tiers_from_nonnegative', sql`${table.fromMicros} >= 0`),
  ],
);

export type VolumeDiscountTier = typeof volumeDiscountTiers.$inferSelect;
