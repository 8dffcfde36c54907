import { Module } from '@nestjs/common';
import { InvoiceRenderQueueModule } from '../render/invoice-render-queue.module';
import { InvoiceIssuer } from './invoice-issuer.service';
import { IssuePurchaseInvoiceService } from './issue-purchase-invoice.service';

/**
 * Just the issuer, so payments (which issues an invoice in every credit transaction) can import it
 * without pulling in rendering, storage or routes (only the render queue, to schedule PDFs after
 * commit). AuditLogService and BillingMetrics are global.
 */
@Module({
  imports: [InvoiceRenderQueueModule],
  providers: [InvoiceIssuer, IssuePurchaseInvoiceService],
  exports: [InvoiceIssuer, IssuePurchaseInvoiceService],
})
export class InvoiceIssueModule {}
