import { PruneAuditLogService } from '@app/audit';
import {
  BuildInvoiceExportService,
  IssueUsageStatementsService,
  MarkOverdueInvoicesService,
  RenderInvoicePdfService,
} from '@app/invoices';
import { ReconcileBalancesService } from '@app/ledger';
import { BillingMetrics } from '@app/metrics';
import { SendAlertEmailService, SweepAlertEmailsService } from '@app/notifications';
import { ChargeAutoReloadService, SweepAutoReloadsService } from '@app/payments';
import { JobName } from '@app/queue';
import { APP_CONFIG, WorkerEnv } from '@app/config';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { UnrecoverableError } from 'bullmq';
import { BackgroundJobName, JobHandlerMap, JobHandlers } from './job-handlers';

/** A processor only checks the payload's shape and calls one service method. */
@Injectable()
export class BackgroundJobHandlers implements JobHandlers<BackgroundJobName> {
  private readonly logger = new Logger(BackgroundJobHandlers.name);
  readonly byName: JobHandlerMap<BackgroundJobName>;

  constructor(
    reconciler: ReconcileBalancesService,
    auditPruner: PruneAuditLogService,
    autoReload: ChargeAutoReloadService,
    autoReloadSweep: SweepAutoReloadsService,
    statements: IssueUsageStatementsService,
    overdue: MarkOverdueInvoicesService,
    invoicePdf: RenderInvoicePdfService,
    invoiceExports: BuildInvoiceExportService,
    alertEmails: SendAlertEmailService,
    alertEmailSweep: SweepAlertEmailsService,
    metrics: BillingMetrics,
    @Inject(APP_CONFIG) config: WorkerEnv,
  ) {
    // The process running invoice jobs exports the overdue-invoice gauges (read from Postgres at scrape time).
    overdue.watch(metrics);
    this.byName = {
      [JobName.RenderInvoice]: async (payload) => {
        if (typeof payload?.invoiceId !== 'string')
          throw new UnrecoverableError('malformed render-invoice payload');
        return invoicePdf.render(payload.invoiceId, payload.force === true);
      },
      [JobName.BuildInvoiceExport]: async (payload, attempt) => {
        if (typeof payload?.exportId !== 'string')
          throw new UnrecoverableError('malformed build-invoice-export payload');
        // Invoices without a PDF yet are rendered first, in this job (the render is idempotent).
        return invoiceExports.build(payload.exportId, attempt, (invoiceId) => invoicePdf.render(invoiceId));
      },
      [JobName.ReconcileBalances]: async () => {
        const report = await reconciler.reconcileAll();
        return { ...report, driftMicros: report.driftMicros.toString() };
      },
      [JobName.PruneInvoiceExports]: async () => {
        const result = await invoiceExports.pruneExpired(config.INVOICE_EXPORT_RETENTION_DAYS);
        if (result.expired > 0) this.logger.log(`deleted ${result.expired} expired invoice export zip(s)`);
        return result;
      },
      [JobName.PruneAuditLog]: async () => {
        const result = await auditPruner.prune();
        this.logger.log(`pruned ${result.deleted} expired audit log row(s)`);
        return result;
      },
      [JobName.AutoReload]: async (payload, attempt) => {
        if (typeof payload?.accountId !== 'string' || !Number.isSafeInteger(payload.crossing))
          throw new UnrecoverableError('malformed auto-reload payload');
        const outcome = await autoReload.reload(payload, attempt);
        return { outcome: outcome?.kind ?? 'recorded_before', purchaseId: outcome?.purchase.id ?? null };
      },
      [JobName.SweepAutoReloads]: async () => autoReloadSweep.sweep(),
      [JobName.IssueUsageStatements]: async () => {
        const run = await statements.issueDue();
        if (!run) return { skipped: 'grace period after midnight' };
        // Thrown after every account was tried, so the retry only redoes the failed ones.
        if (run.failed.length > 0)
          throw new Error(`${run.failed.length} usage statement(s) of ${run.month} failed`);
        return { month: run.month, issued: run.issued.length, alreadyIssued: run.alreadyIssued };
      },
      [JobName.MarkOverdueInvoices]: async () => overdue.markOverdue(),
      [JobName.SendAlertEmail]: async (payload, attempt) => {
        if (typeof payload?.alertId !== 'string')
          throw new UnrecoverableError('malformed send-alert-email payload');
        return alertEmails.send(payload.alertId, attempt);
      },
      [JobName.SweepAlertEmails]: async () => alertEmailSweep.sweep(),
    };
  }
}
