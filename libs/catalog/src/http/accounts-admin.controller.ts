import { auditActorOf } from '@app/audit';
import { AccountIdParam, AccountRoute, ApiError, Caller, CurrentCaller, RequireScope } from '@app/http';
import { formatUsd } from '@app/money';
import { Body, Controller, Get, Param, Patch, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AccountRecord, CatalogWriter, InvoiceBillingTierError } from '../catalog-writer';
import { CreateAccountDto, UpdateAccountDto } from './catalog.dto';

function accountView(account: AccountRecord) {
  return {
    id: account.id,
    name: account.name,
    email: account.billing_email,
    tier: account.tier,
    status: account.status,
    created_at: account.created_at.toISOString(),
    // Ingest charges paid models of usage that occurred before a downgrade to Free at this time.
    tier_changed_at: account.tier_changed_at?.toISOString() ?? null,
  };
}

@ApiTags('admin')
@ApiBearerAuth()
@RequireScope('admin')
@Controller('v1/admin/accounts')
export class AccountsAdminController {
  constructor(private readonly writer: CatalogWriter) {}

  @Post()
  @ApiOperation({
    summary: 'Create an account (tier defaults to free) with a zero balance; its email becomes the owner',
  })
  async create(@Body() body: CreateAccountDto, @CurrentCaller() caller: Caller) {
    const account = await this.writer.createAccount(
      { name: body.name.trim(), email: body.email, tier: body.tier ?? 'free' },
      auditActorOf(caller),
    );
    return {
      id: account.id,
      name: account.name,
      email: account.email,
      tier: account.tier,
      status: account.status,
      balance: formatUsd(account.balanceMicros),
    };
  }

  @Patch(':id')
  @ApiOperation({ summary: "Change an account's name, billing email, tier or status (audited)" })
  async update(
    @Param('id', AccountIdParam) accountId: string,
    @Body() body: UpdateAccountDto,
    @CurrentCaller() caller: Caller,
  ) {
    const account = await this.writer
      .updateAccount(
        accountId,
        { name: body.name?.trim(), email: body.email, tier: body.tier, status: body.status },
        auditActorOf(caller),
      )
      .catch((error: unknown) => {
        if (error instanceof InvoiceBillingTierError)
          throw new ApiError(409, 'invoice_billing_requires_enterprise', error.message);
        throw error;
      });
    if (!account) throw new ApiError(404, 'account_not_found', 'no such account');
    return accountView(account);
  }
}

/** The workspace itself, as its members see it. */
@ApiTags('workspace')
@ApiBearerAuth()
@Controller('v1/accounts')
export class AccountsController {
  constructor(private readonly writer: CatalogWriter) {}

  @Get(':id')
  @AccountRoute('usage:read')
  @ApiOperation({ summary: 'Name, billing email, tier and status of the workspace' })
  async get(@Param('id', AccountIdParam) accountId: string) {
    const account = await this.writer.findAccount(accountId);
    if (!account) throw new ApiError(404, 'account_not_found', 'no such account');
    return accountView(account);
  }
}
