import { InvoiceBillTo } from '@app/db';

/** Everything an invoice PDF prints, read from the invoices and invoice_lines rows only. */
export interface InvoiceDocument {
  id: string;
  accountId: string;
  number: string;
  kind: 'purchase' | 'auto_reload' | 'usage_statement';
  status: 'paid' | 'open' | 'overdue' | 'void';
  currency: string;
  issuedAt: Date;
  transactionAt: Date;
  /** YYYY-MM-DD, as stored (date columns). */
  dueDate: string | null;
  periodStart: string | null;
  periodEnd: string | null;
  subtotalMicros: bigint;
  discountMicros: bigint;
  taxMicros: bigint;
  totalMicros: bigint;
  taxJurisdiction: string | null;
  taxRatePpm: number;
  taxExempt: boolean;
  billTo: InvoiceBillTo;
  cardBrand: string | null;
  cardLast4: string | null;
  purchaseOrderNumber: string | null;
  billingReference: string | null;
  paidAt: Date | null;
  lines: InvoiceDocumentLine[];
}

export interface InvoiceDocumentLine {
  description: string;
  model: string | null;
  quantity: bigint;
  amountMicros: bigint;
}

/** The seller block, from the worker's config (INVOICE_SELLER_*). */
export interface SellerDetails {
  name: string;
  addressLines: string[];
  email: string;
  taxId: string;
}

export function sellerDetailsFromEnv(env: {
  INVOICE_SELLER_NAME: string;
  INVOICE_SELLER_ADDRESS: string;
  INVOICE_SELLER_EMAIL: string;
  INVOICE_SELLER_TAX_ID: string;
}): SellerDetails {
  return {
    name: env.INVOICE_SELLER_NAME,
    addressLines: env.INVOICE_SELLER_ADDRESS.split('|')
      .map((line) => line.trim())
      .filter(Boolean),
    email: env.INVOICE_SELLER_EMAIL,
    taxId: env.INVOICE_SELLER_TAX_ID,
  };
}

/**
 * The object key of an invoice's PDF: fixed by the invoice before the first attempt (I5), so every
 * retry and re-render overwrites the same object instead of adding one.
 */
export function invoicePdfKey(accountId: string, number: string): string {
  return `invoices/${accountId}/${number}.pdf`;
}
