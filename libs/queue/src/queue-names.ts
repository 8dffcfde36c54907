/**
 * Every queue and job name. These strings are stored in Redis with each job:
 * do not rename without a migration plan (drain the queue first).
 */
export enum QueueName {
  Usage = 'usage-events',
  Maintenance = 'maintenance',
  Payments = 'payments',
}

export enum JobName {
  MeterUsageBatch = 'meter-usage-batch',
  ReconcileBalances = 'reconcile-balances',
  PruneAuditLog = 'prune-audit-log',
  AutoReload = 'auto-reload',
}

/** Which queue carries each job. */
export const QUEUE_OF_JOB: Record<JobName, QueueName> = {
  [JobName.MeterUsageBatch]: QueueName.Usage,
  [JobName.ReconcileBalances]: QueueName.Maintenance,
  [JobName.PruneAuditLog]: QueueName.Maintenance,
  [JobName.AutoReload]: QueueName.Payments,
};
