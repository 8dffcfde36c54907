import { pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { accounts } from './accounts.table';

/**
 * Who an account's invoices are addressed to, and where its tax is owed. Invoices copy it when
 * they are issued, so a later change never rewrites an issued invoice.
 */
export const billingProfiles = pgTable('billing_profiles', {
  accountId: uuid('account_id')
    .primaryKey()
    .references(() => accounts.id),
  legalName: text('legal_name'),
  addressLine1: text('address_line1'),
  addressLine2: text('address_line2'),
  city: text('city'),
  /** U.S. state code (CA, NY, ...) or the region of another country. */
  region: text('region'),
  postalCode: text('postal_code'),
  /** ISO 3166-1 alpha-2, upper case; decides the tax jurisdiction with `region`. */
  country: text('country'),
  taxId: text('tax_id'),
  /** Printed on every invoice while set. */
  purchaseOrderNumber: text('purchase_order_number'),
  billingReference: text('billing_reference'),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});

export type BillingProfile = typeof billingProfiles.$inferSelect;
