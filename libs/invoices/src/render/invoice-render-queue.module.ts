import { Module } from '@nestjs/common';
import { InvoiceRenderScheduler } from './invoice-render-scheduler.service';

/**
 * Only the scheduler, for whoever issues invoices (api and worker): import this module and call
 * InvoiceRenderScheduler.schedule(ids) after the issuing transaction commits.
 */
@Module({
  providers: [InvoiceRenderScheduler],
  exports: [InvoiceRenderScheduler],
})
export class InvoiceRenderQueueModule {}
