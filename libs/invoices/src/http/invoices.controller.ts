import { CatalogCache } from '@app/catalog';
import { InvalidCursorError } from '@app/db';
import { AccountIdParam, AccountRoute, ApiError, UuidParam } from '@app/http';
import { Controller, Get, Param, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { InvoicePage, InvoiceQueryService, MAX_INVOICE_PAGE } from './invoice-query.service';
import { invoiceFiltersOf } from './invoice-list-query';

const InvoiceIdParam = new UuidParam('invoice_not_found', 'no such invoice');

/** A list call, with a cursor this API did not hand out answered as 422 invalid_cursor. */
export async function invoicePage(run: () => Promise<InvoicePage>): Promise<InvoicePage> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof InvalidCursorError) throw new ApiError(422, 'invalid_cursor', error.message);
    throw error;
  }
}

@ApiTags('billing')
@ApiBearerAuth()
@Controller('v1/accounts/:id/invoices')
export class InvoicesController {
  constructor(
    private readonly invoices: InvoiceQueryService,
    private readonly catalog: CatalogCache,
  ) {}

  @Get()
  @AccountRoute('billing:manage')
  @ApiOperation({
    summary:
      'Invoices of the account (credit purchases, auto-reloads, monthly usage statements), newest first. Money as decimal USD strings',
  })
  @ApiQuery({ name: 'from', required: false, description: 'issued at or after (RFC 3339)' })
  @ApiQuery({ name: 'to', required: false, description: 'issued before (RFC 3339)' })
  @ApiQuery({ name: 'status', required: false, enum: ['paid', 'open', 'overdue', 'void'] })
  @ApiQuery({ name: 'kind', required: false, enum: ['purchase', 'auto_reload', 'usage_statement'] })
  @ApiQuery({ name: 'limit', required: false, description: `1 to ${MAX_INVOICE_PAGE}, default 100` })
  @ApiQuery({ name: 'cursor', required: false, description: 'next_cursor of the previous page' })
  async list(
    @Param('id', AccountIdParam) accountId: string,
    @Query('from') from?: string,
    @Query('to') to?: string,
    @Query('status') status?: string,
    @Query('kind') kind?: string,
    @Query('limit') limit?: string,
    @Query('cursor') cursor?: string,
  ) {
    const filters = invoiceFiltersOf({ from, to, status, kind, limit, cursor });
    await this.requireAccount(accountId);
    return invoicePage(() => this.invoices.listForAccount(accountId, filters));
  }

  @Get(':invoiceId')
  @AccountRoute('billing:manage')
  @ApiOperation({
    summary:
      'One invoice: number, dates, bill-to, lines, subtotal, discount, tax, total, payment method as it was, PO number, billing reference, status, due date',
  })
  async get(
    @Param('id', AccountIdParam) accountId: string,
    @Param('invoiceId', InvoiceIdParam) invoiceId: string,
  ) {
    await this.requireAccount(accountId);
    const invoice = await this.invoices.find(accountId, invoiceId);
    if (!invoice) throw new ApiError(404, 'invoice_not_found', 'no such invoice');
    return invoice;
  }

  private async requireAccount(accountId: string): Promise<void> {
    if (!(await this.catalog.findAccount(accountId))) {
      throw new ApiError(404, 'account_not_found', 'no such account');
    }
  }
}
