/**
 * Every queue and job name. These strings are stored in Redis with each job:
 * do not rename without a migration plan (drain the queue first).
 */
export enum QueueName {
  Usage = 'usage-events',
  Maintenance = 'maintenance',
  Payments = 'payments',
  Invoices = 'invoices',
  Emails = 'emails',
}

export enum JobName {
  MeterUsageBatch = 'meter-usage-batch',
  ReconcileBalances = 'reconcile-balances',
  PruneAuditLog = 'prune-audit-log',
  AutoReload = 'auto-reload',
  SweepAutoReloads = 'sweep-auto-reloads',
  RenderInvoice = 'render-invoice',
  SendAlertEmail = 'send-alert-email',
  SweepAlertEmails = 'sweep-alert-emails',
  IssueUsageStatements = 'issue-usage-statements',
  MarkOverdueInvoices = 'mark-overdue-invoices',
  BuildInvoiceExport = 'build-invoice-export',
  PruneInvoiceExports = 'prune-invoice-exports',
}

/** Which queue carries each job. */
export const QUEUE_OF_JOB: Record<JobName, QueueName> = {
  [JobName.MeterUsageBatch]: QueueName.Usage,
  [JobName.ReconcileBalances]: QueueName.Maintenance,
  [JobName.PruneAuditLog]: QueueName.Maintenance,
  [JobName.AutoReload]: QueueName.Payments,
  [JobName.SweepAutoReloads]: QueueName.Maintenance,
  [JobName.RenderInvoice]: QueueName.Invoices,
  [JobName.SendAlertEmail]: QueueName.Emails,
  [JobName.SweepAlertEmails]: QueueName.Emails,
  [JobName.IssueUsageStatements]: QueueName.Maintenance,
  [JobName.MarkOverdueInvoices]: QueueName.Maintenance,
  [JobName.BuildInvoiceExport]: QueueName.Invoices,
  [JobName.PruneInvoiceExports]: QueueName.Maintenance,
};
