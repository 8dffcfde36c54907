import { AuditModule } from '@app/audit';
import { ConfigModule, WorkerEnv } from '@app/config';
import { DbModule } from '@app/db';
import { AuthModule, loggingModule } from '@app/http';
import { MetricsModule } from '@app/metrics';
import { QUEUE_OPTIONS } from '@app/queue';
import { openRedis, RedisKeys, RedisModule } from '@app/redis';
import { BullModule } from '@nestjs/bullmq';
import { DynamicModule, Module } from '@nestjs/common';
import { QueueWorkers } from './queue-workers';

/** The app label of the process's metrics, and the name ops know it by (process title billing-<name>). */
export function workerAppName(config: Pick<WorkerEnv, 'WORKER_ROLE'>): 'usage-worker' | 'background-worker' {
  return config.WORKER_ROLE === 'background' ? 'background-worker' : 'usage-worker';
}

/**
 * Consumes the queues of its WORKER_ROLE (usage batches, the other jobs, or both); serves only
 * /metrics and /health. Each role's module is loaded only when the process has that role: a usage
 * worker never loads pdfkit, archiver, the AWS SDK, Stripe or nodemailer (about 30 MiB less RSS at
 * full load, T5's margin), and PDF rendering never holds up its event loop.
 */
@Module({})
export class UsageWorkerModule {
  static async register(config: WorkerEnv): Promise<DynamicModule> {
    const roles: DynamicModule[] = [];
    if (config.WORKER_ROLE !== 'background') {
      const { UsageJobsModule } = await import('./usage-jobs.module');
      roles.push(UsageJobsModule.register(config));
    }
    if (config.WORKER_ROLE !== 'usage') {
      const { BackgroundJobsModule } = await import('./background-jobs.module');
      roles.push(BackgroundJobsModule.register(config));
    }
    return {
      module: UsageWorkerModule,
      imports: [
        ConfigModule.forRoot(config),
        loggingModule(config.LOG_LEVEL),
        DbModule,
        RedisModule,
        MetricsModule.forApp(workerAppName(config)),
        AuthModule.forRoot({ adminToken: '', gatewayTokens: [] }),
        // Producers only (usage batches add auto-reload jobs); QueueWorkers runs the consumers.
        BullModule.forRoot({
          connection: openRedis(config),
          prefix: new RedisKeys(config.REDIS_PREFIX).bullPrefix(),
          ...QUEUE_OPTIONS,
        }),
        // Global: credit grants and catalog writes record into it, and the background role prunes it.
        AuditModule.forRoot({
          freeDays: config.AUDIT_RETENTION_FREE_DAYS,
          developerDays: config.AUDIT_RETENTION_DEVELOPER_DAYS,
          enterpriseDays: config.AUDIT_RETENTION_ENTERPRISE_DAYS,
        }),
        ...roles,
      ],
      providers: [QueueWorkers],
    };
  }
}
