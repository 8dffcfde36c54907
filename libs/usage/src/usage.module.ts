import { AuthorizeUsageService } from './authorize-usage.service';
import { CatalogModule } from '@app/catalog';
import { LedgerModule } from '@app/ledger';
import { QueueName } from '@app/queue';
import { BullModule } from '@nestjs/bullmq';
import { DynamicModule, Module } from '@nestjs/common';
import { FAILPOINT, FailpointName } from './failpoint';
import { INGEST_OPTIONS, IngestOptions, IngestUsageService } from './ingest-usage.service';
import { UsageBatchGrouper, USAGE_GROUPING, UsageGroupingOptions } from './grouping/usage-batch-grouper';
import { UsageGroupClaims } from './grouping/usage-group-claims';
import { MeterUsageBatchService } from './meter-usage-batch.service';
import { USAGE_STATEMENT_TIMEOUT_MS, UsageBatchRepository } from './usage-batch.repository';
import { UsageQueryService } from './usage-query.service';
import { ValidateUsageBatch } from './validate-usage-batch';

@Module({})
export class UsageModule {
  /** What the ingest app needs: validation and enqueueing, plus the usage read model. */
  static forIngest(options: IngestOptions): DynamicModule {
    return {
      module: UsageModule,
      imports: [CatalogModule, LedgerModule, BullModule.registerQueue({ name: QueueName.Usage })],
      providers: [
        { provide: INGEST_OPTIONS, useValue: options },
        ValidateUsageBatch,
        IngestUsageService,
        UsageQueryService,
        AuthorizeUsageService,
      ],
      exports: [
        IngestUsageService,
        UsageQueryService,
        AuthorizeUsageService,
        CatalogModule,
        LedgerModule,
        BullModule,
      ],
    };
  }

  /** What the usage worker needs: rating, deduction and persistence, and adding auto-reload jobs. */
  /** `alerts`: a module exporting USAGE_ALERTS (libs/alerts AlertsModule.forUsageWorker()), so batches raise spending alerts. */
  /** `grouping`: how queued batches are charged together (grouping/usage-batch-grouper.ts). */
  static forWorker(
    failpoint: FailpointName | undefined,
    grouping: UsageGroupingOptions,
    alerts?: DynamicModule,
  ): DynamicModule {
    return {
      module: UsageModule,
      imports: [
        CatalogModule,
        LedgerModule,
        // Payments: auto-reload jobs are added; usage: a group charged again loads its batches' events.
        BullModule.registerQueue({ name: QueueName.Payments }, { name: QueueName.Usage }),
        ...(alerts ? [alerts] : []),
      ],
      providers: [
        { provide: FAILPOINT, useValue: failpoint },
        { provide: USAGE_GROUPING, useValue: grouping },
        { provide: USAGE_STATEMENT_TIMEOUT_MS, useValue: grouping.timeoutMs },
        UsageBatchRepository,
        MeterUsageBatchService,
        UsageGroupClaims,
        UsageBatchGrouper,
      ],
      exports: [UsageBatchGrouper, LedgerModule],
    };
  }
}
