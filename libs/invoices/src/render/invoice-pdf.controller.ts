import { AccountIdParam, AccountRoute, UuidParam } from '@app/http';
import { Controller, Get, Param } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { InvoicePdfLinkService } from './invoice-pdf-link.service';

const InvoiceIdParam = new UuidParam('invoice_not_found', 'no such invoice');

@ApiTags('invoices')
@ApiBearerAuth()
@Controller('v1/accounts/:id/invoices/:invoiceId/pdf')
export class InvoicePdfController {
  constructor(private readonly links: InvoicePdfLinkService) {}

  @Get()
  @AccountRoute('billing:manage')
  @ApiOperation({
    summary:
      "A short-lived link to the invoice's PDF (INVOICE_URL_TTL_SECONDS, 300 s by default). PDFs are rendered by the invoice worker shortly after the invoice is issued",
  })
  @ApiResponse({ status: 200, description: '{url, expires_at}: GET the url to download the PDF' })
  @ApiResponse({ status: 404, description: 'invoice_not_found' })
  @ApiResponse({ status: 409, description: 'invoice_not_rendered: not rendered yet, retry shortly' })
  pdf(@Param('id', AccountIdParam) accountId: string, @Param('invoiceId', InvoiceIdParam) invoiceId: string) {
    return this.links.linkFor(accountId, invoiceId);
  }
}
