import { CatalogModule } from '@app/catalog';
import { LedgerModule } from '@app/ledger';
import { FAILPOINT, FailpointName } from '@app/usage';
import { DynamicModule, Module } from '@nestjs/common';
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
@Module({})
export class InvoiceBillingModule {
  /** `failpoint`: test-only crash point (FAILPOINT, libs/usage/src/failpoint.ts). */
  static forRoot(failpoint?: FailpointName): DynamicModule {
    return {
      module: InvoiceBillingModule,
      imports: [CatalogModule, LedgerModule, InvoiceIssueModule, InvoiceRenderQueueModule],
      providers: [{ provide: FAILPOINT, useValue: failpoint }, ...SERVICES],
      exports: SERVICES,
    };
  }
}
