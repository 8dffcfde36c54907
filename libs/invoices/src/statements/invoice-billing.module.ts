import { CatalogModule } from '@app/catalog';
import { LedgerModule } from '@app/ledger';
import { Module } from '@nestjs/common';
import { InvoiceBillingTermsService } from '../billing-terms/invoice-billing-terms.service';
import { InvoiceIssueModule } from '../issue/invoice-issue.module';
import { InvoiceRenderQueueModule } from '../render/invoice-render-queue.module';
import { IssueUsageStatementsService } from './issue-usage-statements.service';
import { MarkOverdueInvoicesService } from './mark-overdue-invoices.service';
import { RecordInvoicePaymentService } from './record-invoice-payment.service';

const SERVICES = [
  InvoiceBillingTermsService,
  IssueUsageStatementsService,
  MarkOverdueInvoicesService,
  RecordInvoicePaymentService,
];

/**
 * Enterprise invoice billing: terms and credit limits, monthly usage statements, overdue marking
 * and recorded payments. Controllers (InvoiceBillingController, InvoiceStatementsController) are
 * listed by the api app; the usage worker runs the scheduled jobs.
 */
@Module({
  imports: [CatalogModule, LedgerModule, InvoiceIssueModule, InvoiceRenderQueueModule],
  providers: SERVICES,
  exports: SERVICES,
})
export class InvoiceBillingModule {}
