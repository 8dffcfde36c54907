import { Module } from '@nestjs/common';
import { InvoiceQueryService } from './http/invoice-query.service';
import { InvoiceIssueModule } from './issue/invoice-issue.module';

/** Invoices: issuing and numbering, the invoice API. Controllers are listed by the api app. */
@Module({
  imports: [InvoiceIssueModule],
  providers: [InvoiceQueryService],
  exports: [InvoiceIssueModule, InvoiceQueryService],
})
export class InvoicesModule {}
