import { AlertRaiser, InvoiceAlertDetails, NewAlert } from '@app/alerts';
import { DATABASE, DatabaseHandle, Sql, Tx } from '@app/db';
import {
  AfterCommit,
  invoiceDueReminderKey,
  InvoiceOverdueListener,
  InvoicePdfListener,
  IssuedStatement,
  UsageStatementListener,
} from '@app/invoices';
import { formatUsd } from '@app/money';
import { Inject, Injectable } from '@nestjs/common';

/** `PUBLIC_API_URL`: the invoice emails link to the api's PDF route under it; empty: no link. */
export const INVOICE_EMAIL_LINK_BASE = Symbol('INVOICE_EMAIL_LINK_BASE');

const DAY_MS = 86_400_000;

interface InvoiceRow {
  id: string;
  account_id: string;
  number: string;
  currency: string;
  issued_at: Date;
  due_date: string | null;
  total_micros: bigint;
  tax_micros: bigint;
  purchase_order_number: string | null;
}

/**
 * The invoice emails, as alerts (one per dedupe key, mailed by the email worker):
 * - `invoice_ready` when an invoice's PDF is first recorded (in the recording transaction);
 * - `invoice_due` when a monthly usage statement is issued (in the statement's transaction), and again
 *   (`invoice_due_soon:<invoice>`) when an open invoice comes within INVOICE_DUE_REMINDER_DAYS of
 *   its due date (in the overdue marker's run);
 * - `invoice_overdue` when the overdue marker moves an invoice to overdue (in that transaction).
 * The PDF is linked, not attached: the email links to GET /v1/accounts/:id/invoices/:invoiceId/pdf,
 * which answers a fresh presigned link to anyone signed in with `billing:manage`.
 */
@Injectable()
export class InvoiceAlertsListener
  implements InvoicePdfListener, InvoiceOverdueListener, UsageStatementListener
{
  constructor(
    private readonly raiser: AlertRaiser,
    @Inject(DATABASE) private readonly database: DatabaseHandle,
    @Inject(INVOICE_EMAIL_LINK_BASE) private readonly linkBase: string,
  ) {}

  async pdfRecorded(tx: Tx, invoiceId: string): Promise<AfterCommit | null> {
    const [invoice] = await this.load(tx, [invoiceId]);
    if (!invoice) return null;
    const raised = await this.raiser.raise(tx, {
      accountId: invoice.account_id,
      kind: 'invoice_ready',
      dedupeKey: `invoice_ready:${invoice.id}`,
      details: {
        ...this.common(invoice),
        tax: formatUsd(invoice.tax_micros),
        due_at: invoice.due_date ? dueAt(invoice.due_date) : null,
      },
    });
    return raised ? () => this.raiser.dispatch([raised]) : null;
  }

  async statementIssued(tx: Tx, statement: IssuedStatement): Promise<AfterCommit | null> {
    const [invoice] = await this.load(tx, [statement.invoiceId]);
    if (!invoice?.due_date) return null;
    const raised = await this.raiser.raise(tx, {
      accountId: invoice.account_id,
      kind: 'invoice_due',
      dedupeKey: `invoice_due:${invoice.id}`,
      details: this.dueDetails(invoice),
    });
    return raised ? () => this.raiser.dispatch([raised]) : null;
  }

  /** The reminder before the due date: an invoice_due alert of its own dedupe key, so once. */
  async invoicesDueSoon(tx: Tx, invoiceIds: readonly string[]): Promise<AfterCommit | null> {
    const invoices = await this.load(tx, invoiceIds);
    const alerts: NewAlert<'invoice_due'>[] = invoices
      .filter((invoice) => invoice.due_date !== null)
      .map((invoice) => ({
        accountId: invoice.account_id,
        kind: 'invoice_due',
        dedupeKey: invoiceDueReminderKey(invoice.id),
        details: this.dueDetails(invoice),
      }));
    const raised = await this.raiser.raiseMany(tx, alerts);
    return raised.length > 0 ? () => this.raiser.dispatch(raised) : null;
  }

  async invoicesOverdue(tx: Tx, invoiceIds: readonly string[]): Promise<AfterCommit | null> {
    const invoices = await this.load(tx, invoiceIds);
    const alerts: NewAlert<'invoice_overdue'>[] = invoices
      .filter((invoice) => invoice.due_date !== null)
      .map((invoice) => {
        const due = dueAt(invoice.due_date as string);
        return {
          accountId: invoice.account_id,
          kind: 'invoice_overdue',
          dedupeKey: `invoice_overdue:${invoice.id}`,
          details: {
            ...this.common(invoice),
            amount_due: formatUsd(invoice.total_micros),
            due_at: due,
            // Calendar days (UTC) since the due date: at least 1, an invoice is overdue the day after.
            days_overdue: Math.max(1, daysBetween(Date.parse(due), todayUtc())),
          },
        };
      });
    const raised = await this.raiser.raiseMany(tx, alerts);
    return raised.length > 0 ? () => this.raiser.dispatch(raised) : null;
  }

  private dueDetails(invoice: InvoiceRow) {
    const due = dueAt(invoice.due_date as string);
    return {
      ...this.common(invoice),
      amount_due: formatUsd(invoice.total_micros),
      due_at: due,
      // Calendar days (UTC) from today to the due date.
      days_until_due: Math.max(0, daysBetween(todayUtc(), Date.parse(due))),
    };
  }

  private common(invoice: InvoiceRow): InvoiceAlertDetails {
    return {
      invoice_id: invoice.id,
      invoice_number: invoice.number,
      total: formatUsd(invoice.total_micros),
      currency: invoice.currency.toUpperCase(),
      issued_at: invoice.issued_at.toISOString(),
      purchase_order: invoice.purchase_order_number,
      url: this.linkBase
        ? `${this.linkBase.replace(/\/+$/, '')}/v1/accounts/${invoice.account_id}/invoices/${invoice.id}/pdf`
        : null,
    };
  }

  private load(tx: Tx | Sql, ids: readonly string[]): Promise<InvoiceRow[]> {
    return tx<InvoiceRow[]>`
      select id, account_id, number, currency, issued_at, due_date::text as due_date, total_micros,
             tax_micros, purchase_order_number
      from invoices where id = any(${ids as string[]}::uuid[]) order by number`;
  }
}

/** The due date (a UTC calendar day) as the instant it starts. */
function dueAt(dueDate: string): string {
  return new Date(`${dueDate}T00:00:00.000Z`).toISOString();
}

function todayUtc(): number {
  const now = new Date();
  return Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
}

function daysBetween(fromMs: number, toMs: number): number {
  return Math.round((toMs - fromMs) / DAY_MS);
}
