import { InvoiceBillTo, Tx } from '@app/db';
import { Injectable } from '@nestjs/common';
import { IssuedInvoice } from './invoice-draft';
import { InvoiceIssuer } from './invoice-issuer.service';

interface PurchaseRow {
  id: string;
  account_id: string;
  kind: 'purchase' | 'auto_reload';
  status: string;
  amount_micros: bigint;
  tax_micros: bigint;
  tax_rate_ppm: number;
  tax_jurisdiction: string | null;
  tax_exempt: boolean;
  card_brand: string | null;
  card_last4: string | null;
  /** Null on rows opened before bill-to was taken with the tax: the invoice reads it at issue. */
  bill_to: InvoiceBillTo | null;
  purchase_order_number: string | null;
  billing_reference: string | null;
  succeeded_at: Date | null;
}

/**
 * The invoice of a credit purchase or auto-reload, issued in the transaction that credits it
 * (payments' PurchaseSettlementService, which runs it only when its ledger row is new; the unique
 * invoices.purchase_id backs that up). Paid at once, one line, tax and bill-to (address, PO number,
 * billing reference) as the purchase row recorded them when it was opened, and the card that paid (settlement writes it on the row first), so a card
 * removed later still shows on the invoice.
 */
@Injectable()
export class IssuePurchaseInvoiceService {
  constructor(private readonly issuer: InvoiceIssuer) {}

  async issue(tx: Tx, purchaseId: string): Promise<IssuedInvoice> {
    const [purchase] = await tx<PurchaseRow[]>`
      select id, account_id, kind, status, amount_micros, tax_micros, tax_rate_ppm, tax_jurisdiction, tax_exempt,
             card_brand, card_last4, bill_to, purchase_order_number, billing_reference, succeeded_at
      from credit_purchases where id = ${purchaseId}`;
    if (!purchase || purchase.status !== 'succeeded' || !purchase.succeeded_at) {
      throw new Error(`purchase ${purchaseId} is not succeeded; no invoice`);
    }
    return this.issuer.issue(tx, {
      accountId: purchase.account_id,
      kind: purchase.kind,
      status: 'paid',
      transactionAt: purchase.succeeded_at,
      purchaseId: purchase.id,
      lines: [{ description: 'Prepaid credits', quantity: 1n, amountMicros: purchase.amount_micros }],
      tax: {
        jurisdiction: purchase.tax_jurisdiction,
        ratePpm: purchase.tax_rate_ppm,
        exempt: purchase.tax_exempt,
        amountMicros: purchase.tax_micros,
      },
      card: { brand: purchase.card_brand, last4: purchase.card_last4 },
      billTo: purchase.bill_to
        ? {
            billTo: purchase.bill_to,
            purchaseOrderNumber: purchase.purchase_order_number,
            billingReference: purchase.billing_reference,
          }
        : null,
    });
  }

  /** After the credit's transaction committed: metrics, and the PDF's rendering is queued. */
  afterCommit(issued: IssuedInvoice): Promise<void> {
    return this.issuer.afterCommit([issued]);
  }
}
