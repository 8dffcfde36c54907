import { CatalogCache } from '@app/catalog';
import { AccountIdParam, AccountRoute, ApiError, GatewayReadable } from '@app/http';
import { BillingMetrics } from '@app/metrics';
import { Controller, Get, Param, Query, StreamableFile } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import { ApiUsageFilterQuery, UsageFilterParams, usageFilterQuery } from '../usage-filter';
import { CsvExportSlots } from './csv-export-slots';
import { openCountedExport } from './export-outcome';
import { ApiExportRangeQuery, exportRangeQuery, MAX_EXPORT_RANGE_DAYS, rangeFileTag } from './export-range';
import { UsageCsvExport } from './usage-csv-export.service';

/** Per-request usage as a CSV download (RFC 4180), streamed from Postgres as the client reads. */
@ApiTags('exports')
@ApiBearerAuth()
@Controller('v1/accounts/:id')
export class UsageCsvController {
  constructor(
    private readonly usage: UsageCsvExport,
    private readonly catalog: CatalogCache,
    private readonly metrics: BillingMetrics,
    private readonly slots: CsvExportSlots,
  ) {}

  @Get('usage.csv')
  @AccountRoute('usage:read')
  @GatewayReadable()
  @ApiProduces('text/csv')
  @ApiOperation({
    summary: `Per-request usage as CSV, oldest first: event_id, occurred_at, received_at, api_key_id, project_id, model, prompt_tokens, completion_tokens, cached_prompt_tokens, reasoning_tokens, cost_usd (6 decimals), price_version. Events with from <= occurred_at < to; at most ${MAX_EXPORT_RANGE_DAYS} days (422 range_too_long)`,
  })
  @ApiExportRangeQuery()
  @ApiUsageFilterQuery()
  async usageCsv(
    @Param('id', AccountIdParam) accountId: string,
    @Query() filterParams: UsageFilterParams,
    @Query('from') from?: string,
    @Query('to') to?: string,
  ): Promise<StreamableFile> {
    const range = exportRangeQuery(from, to);
    const filter = usageFilterQuery(filterParams);
    if (!(await this.catalog.findAccount(accountId)))
      throw new ApiError(404, 'account_not_found', 'no such account');
    const stream = await openCountedExport(this.metrics, this.slots, 'usage_csv', () =>
      this.usage.open(accountId, range, filter),
    );
    return new StreamableFile(stream, {
      type: 'text/csv; charset=utf-8',
      disposition: `attachment; filename="usage-${rangeFileTag(range)}.csv"`,
    });
  }
}
