import { DatabaseHandle, InvoiceBillTo, Tx } from '@app/db';
import { BillingProfileFields } from '../billing-profile/billing-profile.service';

/** Who an invoice is made out to, as the account and its billing profile say at one moment. */
export interface BillToSnapshot {
  billTo: InvoiceBillTo;
  purchaseOrderNumber: string | null;
  billingReference: string | null;
}

interface BillToRow extends BillingProfileFields {
  name: string;
  billing_email: string;
}

/**
 * Reads the bill-to of an account now. Purchases take it when their row is opened, beside their
 * tax (credit_purchases.bill_to, F9), so an invoice issued when a delayed payment settles shows
 * the address its tax came from; monthly statements take it when they are issued.
 */
export async function readBillTo(
  sql: Tx | DatabaseHandle['sql'],
  accountId: string,
): Promise<BillToSnapshot> {
  const [account] = await sql<BillToRow[]>`
    select a.name, a.billing_email, p.legal_name, p.address_line1, p.address_line2, p.city, p.region,
           p.postal_code, p.country, p.tax_id, p.purchase_order_number, p.billing_reference
    from accounts a left join billing_profiles p on p.account_id = a.id
    where a.id = ${accountId}`;
  if (!account) throw new Error(`account ${accountId} not found`);
  return {
    billTo: {
      name: account.legal_name ?? account.name,
      email: account.billing_email,
      address_line1: account.address_line1,
      address_line2: account.address_line2,
      city: account.city,
      region: account.region,
      postal_code: account.postal_code,
      country: account.country,
      tax_id: account.tax_id,
    },
    purchaseOrderNumber: account.purchase_order_number,
    billingReference: account.billing_reference,
  };
}
