/**
 * Crash points for tests of I2: a worker started with FAILPOINT=<name> kills itself with SIGKILL
 * when it reaches that point, as a power cut would. Production config refuses FAILPOINT.
 */
/**
 * - after-deduct / after-commit: a usage batch or group (MeterUsageBatchService).
 * - after-group-settle: a group of usage batches settled and its records deleted, before its
 *   jobs are acknowledged (UsageBatchGrouper).
 * - after-settles-held: a usage batch or group settled with its settles that only remove pending
 *   entries held (DeferredSettles), before they are removed (MeterUsageBatchService).
 * - after-charge: an auto-reload whose PaymentIntent succeeded, before the credit is recorded
 *   (ChargeAutoReloadService).
 * - after-card-removed: an auto-reload whose card was found removed, the skip recorded, before the
 *   reload it owes on the new default card is made (ChargeAutoReloadService).
 * - mid-render: an invoice PDF uploaded to S3, before its key and hash are recorded
 *   (RenderInvoicePdfService).
 * - after-smtp-send: an alert email accepted by the SMTP server, before its delivery row says
 *   sent (SendAlertEmailService).
 * - after-statement-commit: a usage statement committed, before its render and email are handed
 *   on (IssueUsageStatementsService, in the api or the worker).
 */
export type FailpointName =
  | 'after-deduct'
  | 'after-commit'
  | 'after-group-settle'
  | 'after-settles-held'
  | 'after-charge'
  | 'after-card-removed'
  | 'mid-render'
  | 'after-smtp-send'
  | 'after-statement-commit';

export const FAILPOINT = Symbol('FAILPOINT');

export function crashAt(configured: FailpointName | undefined, point: FailpointName): void {
  if (configured === point) process.kill(process.pid, 'SIGKILL');
}
