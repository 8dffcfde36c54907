import { ReconcileBalancesService } from '@app/ledger';
import { BillingMetrics } from '@app/metrics';
import { JobName, JobPayloads } from '@app/queue';
import { MeterUsageBatchService } from '@app/usage';
import { APP_CONFIG, WorkerEnv } from '@app/config';
import { Inject, Injectable } from '@nestjs/common';

type Handlers = { [N in JobName]: (payload: JobPayloads[N]) => Promise<unknown> };

/**
 * The one handler of every job name. A processor only checks the payload's shape and calls one
 * service method; the object type makes a missing or extra job name a compile error.
 */
@Injectable()
export class JobHandlers {
  readonly byName: Handlers;

  constructor(
    meter: MeterUsageBatchService,
    reconciler: ReconcileBalancesService,
    metrics: BillingMetrics,
    @Inject(APP_CONFIG) config: WorkerEnv,
  ) {
    this.byName = {
      [JobName.MeterUsageBatch]: async (payload) => {
        if (!payload?.batchId || !Array.isArray(payload.events))
          throw new Error('malformed usage batch payload');
        const result = await withDeadline(meter.meter(payload), config.USAGE_JOB_TIMEOUT_MS);
        metrics.eventsPersisted.inc(result.events);
        metrics.eventsChargedMicros.inc(Number(result.chargedMicros));
        return { events: result.events, accounts: result.accounts };
      },
      [JobName.ReconcileBalances]: async () => {
        const report = await reconciler.reconcileAll();
        return { ...report, driftMicros: report.driftMicros.toString() };
      },
    };
  }
}

async function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`usage batch took more than ${ms} ms; retrying`)), ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
