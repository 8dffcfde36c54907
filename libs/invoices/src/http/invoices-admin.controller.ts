import { RequireScope, UuidParam } from '@app/http';
import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { invoicePage } from './invoices.controller';
import { InvoiceQueryService, MAX_INVOICE_PAGE } from './invoice-query.service';
import { invoiceFiltersOf } from './invoice-list-query';

const AccountFilter = new UuidParam('account_not_found', 'no such account');

@ApiTags('admin')
@ApiBearerAuth()
@RequireScope('admin')
@Controller('v1/admin/invoices')
export class InvoicesAdminController {
  constructor(private readonly invoices: InvoiceQueryService) {}

  @Get()
  @ApiOperation({
    summary:
      'Invoices of every account, newest first, for ops: e.g. status=overdue for unpaid net-terms invoices past their due date',
  })
  @ApiQuery({ name: 'status', required: false, enum: ['paid', 'open', 'overdue', 'void'] })
  @ApiQuery({ name: 'kind', required: false, enum: ['purchase', 'auto_reload', 'usage_statement'] })
  @ApiQuery({ name: 'account_id', required: false })
  @ApiQuery({ name: 'due_before', required: false, description: 'due on or before (YYYY-MM-DD)' })
  @ApiQuery({ name: 'from', required: false, description: 'issued at or after (RFC 3339)' })
  @ApiQuery({ name: 'to', required: false, description: 'issued before (RFC 3339)' })
  @ApiQuery({ name: 'limit', required: false, description: `1 to ${MAX_INVOICE_PAGE}, default 100` })
  @ApiQuery({ name: 'cursor', required: false, description: 'next_cursor of the previous page' })
  async list(
    @Query('status') status?: string,
    @Query('kind') kind?: string,
    @Query('account_id') accountText?: string,
    @Query('due_before') dueBefore?: string,
    @Query('from') from?: string,
    @Query('to') to?: string,
    @Query('limit') limit?: string,
    @Query('cursor') cursor?: string,
  ) {
    const filters = invoiceFiltersOf({ status, kind, due_before: dueBefore, from, to, limit, cursor });
    const accountId = accountText
      ? await AccountFilter.transform(accountText, { type: 'query', data: 'account_id' })
      : undefined;
    return invoicePage(() => this.invoices.listAll({ ...filters, accountId }));
  }
}
