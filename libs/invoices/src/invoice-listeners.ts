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

/**
 * Called by the overdue marker with the invoices it just moved from open to overdue, and with the
 * open invoices now within INVOICE_DUE_REMINDER_DAYS of their due date that have had no reminder.
 */
export const INVOICE_OVERDUE_LISTENER = Symbol('INVOICE_OVERDUE_LISTENER');
export interface InvoiceOverdueListener {
  invoicesOverdue(tx: Tx, invoiceIds: readonly string[]): Promise<AfterCommit | null>;
  invoicesDueSoon(tx: Tx, invoiceIds: readonly string[]): Promise<AfterCommit | null>;
}

/** Days before its due date an open invoice gets a reminder (if issued earlier than that). */
export const INVOICE_DUE_REMINDER_DAYS = 3;

/** Dedupe key of an invoice's due-date reminder: one per invoice. */
export function invoiceDueReminderKey(invoiceId: string): string {
  return `invoice_due_soon:${invoiceId}`;
}
