import { CatalogCache } from '@app/catalog';
import { AccountIdParam, AccountRoute, ApiError, GatewayReadable } from '@app/http';
import { Controller, Get, Param, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { ApiExportRangeQuery, exportRangeQuery, MAX_EXPORT_RANGE_DAYS } from '../export/export-range';
import { ApiUsageFilterQuery, UsageFilterParams, usageFilterQuery } from '../usage-filter';
import { SUMMARY_DIMENSIONS, summaryDimensionsQuery } from './summary-dimensions';
import { MAX_SUMMARY_ROWS, UsageSummaryService } from './usage-summary.service';

/** Spend and tokens by day, model, API key and project, for an account's own charts and reports. */
@ApiTags('usage')
@ApiBearerAuth()
@Controller('v1/accounts/:id')
export class UsageSummaryController {
  constructor(
    private readonly summaries: UsageSummaryService,
    private readonly catalog: CatalogCache,
  ) {}

  @Get('usage/summary')
  @AccountRoute('usage:read')
  @GatewayReadable()
  @ApiOperation({
    summary:
      `Usage summed by group: requests, prompt/completion/cached/reasoning tokens and cost (USD, exact) per ` +
      `day (UTC date of occurred_at), model, API key (with its name) and/or project (with its name), plus ` +
      `totals. Events with from <= occurred_at < to, at most ${MAX_EXPORT_RANGE_DAYS} days (422 ` +
      `range_too_long); at most ${MAX_SUMMARY_ROWS} groups (422 too_many_groups). Rows: days oldest ` +
      `first, then the biggest cost first. The same events as usage.csv of that range, to the micro. ` +
      `Cancelled past USAGE_SUMMARY_TIMEOUT_MS (503 summary_timeout).`,
  })
  @ApiExportRangeQuery()
  @ApiQuery({
    name: 'group_by',
    required: false,
    description: `Comma-separated, any of ${SUMMARY_DIMENSIONS.join(', ')}; default: day`,
  })
  @ApiUsageFilterQuery()
  async summary(
    @Param('id', AccountIdParam) accountId: string,
    @Query() filterParams: UsageFilterParams,
    @Query('from') from?: string,
    @Query('to') to?: string,
    @Query('group_by') groupBy?: string,
  ) {
    const range = exportRangeQuery(from, to);
    const dimensions = summaryDimensionsQuery(groupBy);
    const filter = usageFilterQuery(filterParams);
    if (!(await this.catalog.findAccount(accountId)))
      throw new ApiError(404, 'account_not_found', 'no such account');
    return this.summaries.summarize(accountId, range, dimensions, filter);
  }
}
