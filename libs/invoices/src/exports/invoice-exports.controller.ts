import { auditActorOf } from '@app/audit';
import { CatalogCache } from '@app/catalog';
import {
  AccountIdParam,
  AccountRoute,
  ApiError,
  Caller,
  CurrentCaller,
  optionalIdempotencyKey,
  UuidParam,
} from '@app/http';
import { BillingMetrics } from '@app/metrics';
import {
  CsvExportSlots,
  ApiExportRangeQuery,
  exportRangeQuery,
  MAX_EXPORT_RANGE_DAYS,
  openCountedExport,
  rangeFileTag,
} from '@app/usage';
import { Body, Controller, Get, Headers, HttpCode, Param, Post, Query, StreamableFile } from '@nestjs/common';
import { ApiBearerAuth, ApiHeader, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import { invoiceExportDates } from './invoice-export-range';
import { InvoiceExportRequestDto } from './invoice-exports.dto';
import { InvoiceExportsService } from './invoice-exports.service';
import { InvoicesCsvExport } from './invoices-csv-export.service';

const ExportIdParam = new UuidParam('invoice_export_not_found', 'no such invoice export');

/** Invoice data out: the invoices as CSV, and zips of their PDFs built by the worker. */
@ApiTags('exports')
@ApiBearerAuth()
@Controller('v1/accounts/:id')
export class InvoiceExportsController {
  constructor(
    private readonly csv: InvoicesCsvExport,
    private readonly exports: InvoiceExportsService,
    private readonly catalog: CatalogCache,
    private readonly metrics: BillingMetrics,
    private readonly slots: CsvExportSlots,
  ) {}

  @Get('invoices.csv')
  @AccountRoute('billing:manage')
  @ApiProduces('text/csv')
  @ApiOperation({
    summary: `Invoices as CSV, by issue time: number, issued_at, transaction_at, due_date, kind, status, currency, subtotal, discount, tax, tax_rate_percent, tax_jurisdiction, tax_exempt, total (dollars.cents), card_brand, card_last4, purchase_order_number, billing_reference, period_start, period_end, invoice_id. Invoices with from <= issued_at < to; at most ${MAX_EXPORT_RANGE_DAYS} days (422 range_too_long)`,
  })
  @ApiExportRangeQuery()
  async invoicesCsv(
    @Param('id', AccountIdParam) accountId: string,
    @Query('from') from?: string,
    @Query('to') to?: string,
  ): Promise<StreamableFile> {
    const range = exportRangeQuery(from, to);
    await this.requireAccount(accountId);
    const stream = await openCountedExport(this.metrics, this.slots, 'invoices_csv', () =>
      this.csv.open(accountId, range),
    );
    return new StreamableFile(stream, {
      type: 'text/csv; charset=utf-8',
      disposition: `attachment; filename="invoices-${rangeFileTag(range)}.csv"`,
    });
  }

  @Post('invoice-exports')
  @HttpCode(202)
  @AccountRoute('billing:manage')
  @ApiHeader({
    name: 'Idempotency-Key',
    required: false,
    description: 'Same key, same export: a replay answers with the export it made',
  })
  @ApiOperation({
    summary: `Start a zip of the PDFs of the invoices issued from \`from\` to \`to\` (UTC dates, both inclusive, at most ${MAX_EXPORT_RANGE_DAYS} days). 202 {id, status: pending}; poll GET invoice-exports/:exportId for the link`,
  })
  async requestExport(
    @Param('id', AccountIdParam) accountId: string,
    @Body() body: InvoiceExportRequestDto,
    @CurrentCaller() caller: Caller,
    @Headers('idempotency-key') requestKey?: string,
  ) {
    const key = optionalIdempotencyKey(requestKey);
    const dates = invoiceExportDates(body.from, body.to);
    await this.requireAccount(accountId);
    return this.exports.request({ accountId, ...dates, requestKey: key, actor: auditActorOf(caller) });
  }

  @Get('invoice-exports/:exportId')
  @AccountRoute('billing:manage')
  @ApiOperation({
    summary:
      'An invoice export: pending, ready (with download_url, a presigned link valid a few minutes; read this again for a fresh one), failed (with error) or expired (the zip was deleted days after it was built; request a new export)',
  })
  async getExport(
    @Param('id', AccountIdParam) accountId: string,
    @Param('exportId', ExportIdParam) exportId: string,
  ) {
    await this.requireAccount(accountId);
    return this.exports.find(accountId, exportId);
  }

  private async requireAccount(accountId: string): Promise<void> {
    if (!(await this.catalog.findAccount(accountId))) {
      throw new ApiError(404, 'account_not_found', 'no such account');
    }
  }
}
