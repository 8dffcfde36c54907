import { ApiError, RequireScope } from '@app/http';
import { formatUsd } from '@app/money';
import { Body, Controller, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CatalogWriter } from '../catalog-writer';
import { CreateAccountDto } from './catalog.dto';

@ApiTags('admin')
@ApiBearerAuth()
@RequireScope('admin')
@Controller('v1/admin/accounts')
export class AccountsAdminController {
  constructor(private readonly writer: CatalogWriter) {}

  @Post()
  @ApiOperation({ summary: 'Create an account (tier defaults to free) with a zero balance' })
  async create(@Body() body: CreateAccountDto) {
    const account = await this.writer.createAccount({
      name: body.name.trim(),
      email: body.email,
      tier: body.tier ?? 'free',
    });
    if (!account) throw new ApiError(500, 'internal', 'account was not created');
    return {
      id: account.id,
      name: account.name,
      email: account.email,
      tier: account.tier,
      status: account.status,
      balance: formatUsd(account.balanceMicros),
    };
  }
}
