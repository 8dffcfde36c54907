import { AlertsModule } from '@app/alerts';
import { AuditModule } from '@app/audit';
import { ConfigModule, WorkerEnv } from '@app/config';
import { DbModule } from '@app/db';
import { AuthModule, loggingModule } from '@app/http';
import { InvoiceBillingModule, InvoiceExportsModule, InvoiceRenderModule, TaxModule } from '@app/invoices';
import { MetricsModule } from '@app/metrics';
import { InvoiceAlertsModule, NotificationsModule } from '@app/notifications';
import { PaymentsModule } from '@app/payments';
import { QUEUE_OPTIONS } from '@app/queue';
import { openRedis, RedisKeys, RedisModule } from '@app/redis';
import { StorageModule } from '@app/storage';
import { UsageModule } from '@app/usage';
import { BullModule } from '@nestjs/bullmq';
import { DynamicModule, Module } from '@nestjs/common';
import { JobHandlers } from './job-handlers';
import { QueueWorkers } from './queue-workers';

/** Consumes usage batches, auto-reload charges and maintenance jobs; serves only /metrics and /health. */
@Module({})
export class UsageWorkerModule {
  static register(config: WorkerEnv): DynamicModule {
    return {
      module: UsageWorkerModule,
      imports: [
        ConfigModule.forRoot(config),
        loggingModule(config.LOG_LEVEL),
        DbModule,
        RedisModule,
        MetricsModule.forApp('usage-worker'),
        AuthModule.forRoot({ adminToken: '', gatewayTokens: [] }),
        // Producers only (usage batches add auto-reload jobs); QueueWorkers runs the consumers.
        BullModule.forRoot({
          connection: openRedis(config),
          prefix: new RedisKeys(config.REDIS_PREFIX).bullPrefix(),
          ...QUEUE_OPTIONS,
        }),
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
        NotificationsModule.forWorker(config, config.FAILPOINT),
        // Global: auto-reload purchases are taxed when opened.
        TaxModule.forRoot(config),
        // Monthly usage statements and overdue marking (scheduled in QueueWorkers).
        InvoiceBillingModule.forRoot(config.FAILPOINT),
        // Its sweep of stale auto-reloads is scheduled in QueueWorkers.
        PaymentsModule.forRoot(config, config.FAILPOINT, { ageMs: config.AUTO_RELOAD_SWEEP_AGE_MS }),
        StorageModule.forRoot(config),
        InvoiceRenderModule.forWorker(config),
        InvoiceExportsModule.forWorker(),
        // Invoice ready / due / overdue emails (global listeners of the render, statement and overdue jobs).
        InvoiceAlertsModule.forRoot(config.PUBLIC_API_URL),
        AuditModule.forRoot({
          freeDays: config.AUDIT_RETENTION_FREE_DAYS,
          developerDays: config.AUDIT_RETENTION_DEVELOPER_DAYS,
          enterpriseDays: config.AUDIT_RETENTION_ENTERPRISE_DAYS,
        }),
      ],
      providers: [JobHandlers, QueueWorkers],
    };
  }
}
