import { WorkerEnv } from '@app/config';
import { InvoiceBillingModule, InvoiceExportsModule, InvoiceRenderModule, TaxModule } from '@app/invoices';
import { LedgerModule } from '@app/ledger';
import { InvoiceAlertsModule, NotificationsModule } from '@app/notifications';
import { PaymentsModule } from '@app/payments';
import { StorageModule } from '@app/storage';
import { DynamicModule, Module } from '@nestjs/common';
import { BackgroundJobHandlers } from './background-job-handlers';
import { BACKGROUND_JOB_HANDLERS } from './job-handlers';

/** Auto-reload charges, invoice PDFs, statements and exports, alert emails and the maintenance jobs. */
@Module({})
export class BackgroundJobsModule {
  static register(config: WorkerEnv): DynamicModule {
    return {
      module: BackgroundJobsModule,
      imports: [
        // Balance reconciliation (a maintenance job).
        LedgerModule,
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
      ],
      providers: [{ provide: BACKGROUND_JOB_HANDLERS, useClass: BackgroundJobHandlers }],
      exports: [BACKGROUND_JOB_HANDLERS],
    };
  }
}
