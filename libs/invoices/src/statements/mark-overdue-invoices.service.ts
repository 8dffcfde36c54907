import { AuditLogService, SYSTEM_ACTOR } from '@app/audit';
import { DATABASE, DatabaseHandle } from '@app/db';
import { BillingMetrics } from '@app/metrics';
import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import {
  INVOICE_DUE_REMINDER_DAYS,
  INVOICE_OVERDUE_LISTENER,
  InvoiceOverdueListener,
  invoiceDueReminderKey,
} from '../invoice-listeners';
import { InvoiceRenderScheduler } from '../render/invoice-render-scheduler.service';

interface OverdueRow {
  id: string;
  account_id: string;
  number: string;
  due_date: string;
  total_micros: bigint;
}

/**
 * Open net-terms invoices become overdue the day after their due date (UTC). The change is one
 * statement with its audit rows, so running it twice or concurrently marks each invoice once.
 * The same run reminds the owners of open invoices due within INVOICE_DUE_REMINDER_DAYS (once per
 * invoice: the reminder alert's dedupe key). An invoice of $0.00 is neither: nothing is owed
 * (statements of $0.00 are issued paid; this covers those issued open before they were).
 */
@Injectable()
export class MarkOverdueInvoicesService {
  private readonly logger = new Logger(MarkOverdueInvoicesService.name);

  constructor(
    @Inject(DATABASE) private readonly database: DatabaseHandle,
    private readonly audit: AuditLogService,
    private readonly renders: InvoiceRenderScheduler,
    @Optional() @Inject(INVOICE_OVERDUE_LISTENER) private readonly listener?: InvoiceOverdueListener,
  ) {}

  async markOverdue(): Promise<{ marked: number }> {
    const { rows, afterCommit } = await this.database.sql.begin(async (tx) => {
      const marked = await tx<OverdueRow[]>`
        update invoices set status = 'overdue', updated_at = now()
        where status = 'open' and due_date < (now() at time zone 'UTC')::date and total_micros > 0
        returning id, account_id, number, due_date::text as due_date, total_micros`;
      await this.audit.recordMany(
        tx,
        marked.map((row) => ({
          accountId: row.account_id,
          actor: SYSTEM_ACTOR,
          action: 'invoice.overdue',
          targetType: 'invoice',
          targetId: row.id,
          before: { status: 'open' },
          after: {
            status: 'overdue',
            number: row.number,
            due_date: row.due_date,
            total_micros: row.total_micros,
          },
        })),
      );
      const after =
        marked.length > 0 && this.listener
          ? await this.listener.invoicesOverdue(
              tx,
              marked.map((row) => row.id),
            )
          : null;
      return { rows: [...marked], afterCommit: after };
    });
    // The overdue emails: their alerts committed with the status change above.
    await afterCommit?.().catch((error: unknown) =>
      this.logger.warn(`overdue listener failed after commit: ${String(error)}`),
    );
    // Their PDFs show the status (an "Overdue" badge): draw them again.
    // Committed: a lost enqueue (Redis down) is the render sweep's, and the reminders still go.
    for (const row of rows) {
      await this.renders
        .rerender(row.id)
        .catch((error: unknown) =>
          this.logger.warn(
            `invoice ${row.number}: re-render not queued, left to the sweep: ${String(error)}`,
          ),
        );
    }
    if (rows.length > 0)
      this.logger.warn(`${rows.length} invoice(s) overdue: ${rows.map((row) => row.number).join(', ')}`);
    await this.remindDueSoon();
    return { marked: rows.length };
  }

  /**
   * Open invoices due today or within INVOICE_DUE_REMINDER_DAYS, issued before that window (a
   * statement issued closer to its due date already said how soon in its invoice_due email),
   * and not reminded yet.
   */
  private async remindDueSoon(): Promise<void> {
    if (!this.listener) return;
    const listener = this.listener;
    const afterCommit = await this.database.sql.begin(async (tx) => {
      const due = await tx<{ id: string }[]>`
        select i.id from invoices i
        where i.status = 'open' and i.due_date is not null and i.total_micros > 0
          and i.due_date between (now() at time zone 'UTC')::date
                             and (now() at time zone 'UTC')::date + ${INVOICE_DUE_REMINDER_DAYS}::int
          and (i.issued_at at time zone 'UTC')::date < i.due_date - ${INVOICE_DUE_REMINDER_DAYS}::int
          and not exists (select 1 from alerts a where a.dedupe_key = ${invoiceDueReminderKey('')} || i.id::text)
        order by i.id`;
      return due.length > 0
        ? listener.invoicesDueSoon(
            tx,
            due.map((row) => row.id),
          )
        : null;
    });
    await afterCommit?.().catch((error: unknown) =>
      this.logger.warn(`due reminder listener failed after commit: ${String(error)}`),
    );
  }

  /** Overdue invoices of every account, for the ops gauges. */
  async totals(): Promise<{ count: number; amountMicros: bigint }> {
    const [row] = await this.database.sql<{ count: number; amount: bigint }[]>`
      select count(*)::int as count, coalesce(sum(total_micros), 0)::bigint as amount
      from invoices where status = 'overdue'`;
    return { count: row.count, amountMicros: row.amount };
  }

  /** Makes this process export the overdue gauges (read from Postgres at scrape time). */
  watch(metrics: BillingMetrics): void {
    metrics.watchOverdueInvoices(() => this.totals());
  }
}
