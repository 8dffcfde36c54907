import { PruneAuditLogService } from '@app/audit';
import { ReconcileBalancesService } from '@app/ledger';
import { withDeadline } from '@app/http';
import { BillingMetrics } from '@app/metrics';
import { ChargeAutoReloadService } from '@app/payments';
import { JobAttempt, JobName, JobPayloads } from '@app/queue';
import { MeterUsageBatchService } from '@app/usage';
import { APP_CONFIG, WorkerEnv } from '@app/config';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { UnrecoverableError } from 'bullmq';

type Handlers = { [N in JobName]: (payload: JobPayloads[N], attempt: JobAttempt) => Promise<unknown> };

/**
 * The one handler of every job name. A processor only checks the payload's shape and calls one
 * service method; the object type makes a missing or extra job name a compile error.
 */
@Injectable()
export class JobHandlers {
  private readonly logger = new Logger(JobHandlers.name);
  readonly byName: Handlers;

  constructor(
    meter: MeterUsageBatchService,
    reconciler: ReconcileBalancesService,
    auditPruner: PruneAuditLogService,
    autoReload: ChargeAutoReloadService,
    metrics: BillingMetrics,
    @Inject(APP_CONFIG) config: WorkerEnv,
  ) {
    this.byName = {
      [JobName.MeterUsageBatch]: async (payload) => {
        if (!payload?.batchId || !Array.isArray(payload.events))
          throw new Error('malformed usage batch payload');
        const result = await withDeadline(
          meter.meter(payload),
          config.USAGE_JOB_TIMEOUT_MS,
          `usage batch took more than ${config.USAGE_JOB_TIMEOUT_MS} ms; retrying`,
        );
        metrics.eventsPersisted.inc(result.events);
        metrics.eventsChargedMicros.inc(Number(result.chargedMicros));
        return { events: result.events, accounts: result.accounts };
      },
      [JobName.ReconcileBalances]: async () => {
        const report = await reconciler.reconcileAll();
        return { ...report, driftMicros: report.driftMicros.toString() };
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
    };
  }
}
