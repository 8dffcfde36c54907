import { AuditModule } from '@app/audit';
import { ConfigModule, WorkerEnv } from '@app/config';
import { DbModule } from '@app/db';
import { AuthModule, loggingModule } from '@app/http';
import { MetricsModule } from '@app/metrics';
import { PaymentsModule } from '@app/payments';
import { openRedis, RedisKeys, RedisModule } from '@app/redis';
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
          connection: openRedis(config.REDIS_URL),
          prefix: new RedisKeys(config.REDIS_PREFIX).bullPrefix(),
        }),
        UsageModule.forWorker(config.FAILPOINT),
        PaymentsModule.forRoot(config, config.FAILPOINT),
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
