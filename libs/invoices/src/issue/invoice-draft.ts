import { BillToSnapshot } from './bill-to-snapshot';

/**
 * What a caller hands to InvoiceIssuer.issue: everything that is not a snapshot of the account
 * (bill-to, PO number and billing reference are copied by the issuer unless the draft has them). Money in micros of whole
 * cents (multiples of 10,000): rounding to the cent happens before an amount reaches an invoice.
 */
export interface InvoiceLineDraft {
  description: string;
  model?: string | null;
  /** Tokens for usage lines, 1 for credit purchases. */
  quantity: bigint;
  amountMicros: bigint;
}

export interface InvoiceTax {
  /** US-CA, DE, ... ; null when no tax applies. */
  jurisdiction: string | null;
  /** Parts per million: 7.25 % is 72500. */
  ratePpm: number;
  exempt: boolean;
  amountMicros: bigint;
}

export interface InvoiceDraft {
  accountId: string;
  kind: 'purchase' | 'auto_reload' | 'usage_statement';
  status: 'paid' | 'open';
  /**
   * A paid invoice was paid when issued (paid_at = the issue time) rather than at transactionAt:
   * a usage statement with nothing to pay, settled as it is issued.
   */
  settledAtIssue?: boolean;
  /** When the money moved (payment success) or, for usage statements, the period's end. */
  transactionAt: Date;
  /** YYYY-MM-DD (net terms). */
  dueDate?: string | null;
  /** YYYY-MM-DD, usage statements. */
  periodStart?: string | null;
  periodEnd?: string | null;
  purchaseId?: string | null;
  /** Usage statements: the pg_snapshot their usage was read in (statements/statement-usage.ts). */
  usageSnapshot?: string | null;
  lines: InvoiceLineDraft[];
  discountMicros?: bigint;
  tax: InvoiceTax;
  /** The card as it was at purchase; kept on the invoice when the card is later removed. */
  card?: { brand: string | null; last4: string | null } | null;
  /** Bill-to, PO number and billing reference taken earlier (a purchase's, when opened); else read at issue. */
  billTo?: BillToSnapshot | null;
}

export interface IssuedInvoice {
  id: string;
  number: string;
  kind: InvoiceDraft['kind'];
}
