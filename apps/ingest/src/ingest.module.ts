import { AccessModule, freeModelLimitsFromEnv } from '@app/access';
import { ConfigModule, IngestEnv } from '@app/config';
import { DbModule } from '@app/db';
import { AuthModule, loggingModule } from '@app/http';
import { MetricsModule } from '@app/metrics';
import { QUEUE_OPTIONS } from '@app/queue';
import { openRedis, RedisKeys, RedisModule } from '@app/redis';
import { AccountUsageController, UsageEventsController, UsageModule } from '@app/usage';
import { BullModule } from '@nestjs/bullmq';
import { DynamicModule, Module } from '@nestjs/common';

/** The gateway-facing process: usage ingest, authorize, balance and usage reads. */
@Module({})
export class IngestModule {
  static register(config: IngestEnv): DynamicModule {
    return {
      module: IngestModule,
      imports: [
        ConfigModule.forRoot(config),
        loggingModule(config.LOG_LEVEL),
        DbModule,
        RedisModule,
        MetricsModule.forApp('ingest'),
        AuthModule.forRoot({ adminToken: config.ADMIN_TOKEN, gatewayTokens: config.GATEWAY_TOKENS }),
        AccessModule.forRoot(freeModelLimitsFromEnv(config)),
        BullModule.forRoot({
          connection: openRedis(config),
          prefix: new RedisKeys(config.REDIS_PREFIX).bullPrefix(),
          ...QUEUE_OPTIONS,
        }),
        UsageModule.forIngest({
          maxQueuedJobs: config.INGEST_MAX_QUEUED_JOBS,
          dedupeWindowSeconds: config.DEDUPE_WINDOW_SECONDS,
        }),
      ],
      controllers: [UsageEventsController, AccountUsageController],
    };
  }
}
