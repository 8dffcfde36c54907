import { AlertsModule } from '@app/alerts';
import { WorkerEnv } from '@app/config';
import { UsageModule } from '@app/usage';
import { DynamicModule, Module } from '@nestjs/common';
import { USAGE_JOB_HANDLERS } from './job-handlers';
import { UsageJobHandlers } from './usage-job-handlers';

/**
 * The metering hot path: usage batches charged in Redis and stored in Postgres, with the spending
 * alerts they raise and the auto-reload jobs they add. Nothing here loads the invoice, payment,
 * S3 or mail libraries.
 */
@Module({})
export class UsageJobsModule {
  static register(config: WorkerEnv): DynamicModule {
    return {
      module: UsageJobsModule,
      imports: [
        // Budget and low-balance alerts found in the deducting Lua call, inserted in the batch's transaction.
        UsageModule.forWorker(
          config.FAILPOINT,
          {
            batchesPerGroup: config.USAGE_BATCHES_PER_GROUP,
            lingerMs: config.USAGE_GROUP_LINGER_MS,
            groupsAtOnce: config.USAGE_WORKER_CONCURRENCY,
            timeoutMs: config.USAGE_JOB_TIMEOUT_MS,
          },
          AlertsModule.forUsageWorker(),
        ),
      ],
      providers: [{ provide: USAGE_JOB_HANDLERS, useClass: UsageJobHandlers }],
      exports: [USAGE_JOB_HANDLERS],
    };
  }
}
