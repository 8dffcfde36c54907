import { Tx } from '@app/db';

/**
 * Hooks for invoice emails (libs/alerts implements them; libs/invoices never imports alerts).
 * Each is called inside the transaction that records the change, so what it writes commits or
 * rolls back with it, and returns what to do once that transaction committed (or null).
 */
export type AfterCommit = () => Promise<void>;

/** Called when an invoice's PDF is recorded for the first time (never for a re-render). */
export const INVOICE_PDF_LISTENER = Symbol('INVOICE_PDF_LISTENER');
export interface InvoicePdfListener {
  pdfRecorded(tx: Tx, invoiceId: string): Promise<AfterCommit | null>;
}

/** Called with the invoices a run of the overdue marker just moved from open to overdue. */
export const INVOICE_OVERDUE_LISTENER = Symbol('INVOICE_OVERDUE_LISTENER');
export interface InvoiceOverdueListener {
  invoicesOverdue(tx: Tx, invoiceIds: readonly string[]): Promise<AfterCommit | null>;
}
