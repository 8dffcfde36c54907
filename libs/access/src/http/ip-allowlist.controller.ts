import { CatalogCache, requireAccount } from '@app/catalog';
import { AccountIdParam, AccountRoute, Caller, CurrentCaller } from '@app/http';
import { Body, Controller, Get, Param, Put } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { IpAllowlistService } from '../workspace/ip-allowlist.service';
import { IpAllowlistDto } from './workspace.dto';

@ApiTags('workspace')
@ApiBearerAuth()
@Controller('v1/accounts/:id/ip-allowlist')
export class IpAllowlistController {
  constructor(
    private readonly allowlists: IpAllowlistService,
    private readonly catalog: CatalogCache,
  ) {}

  @Get()
  @AccountRoute('settings:manage')
  @ApiOperation({ summary: "Addresses allowed to use this workspace's API keys; empty = any" })
  async get(@Param('id', AccountIdParam) accountId: string) {
    await requireAccount(this.catalog, accountId);
    return { cidrs: await this.allowlists.get(accountId) };
  }

  @Put()
  @AccountRoute('settings:manage')
  @ApiOperation({
    summary:
      "Replace the allowlist (Enterprise; IPv4 and IPv6 CIDRs). Requests with the workspace's keys from elsewhere get 403",
  })
  async replace(
    @Param('id', AccountIdParam) accountId: string,
    @Body() body: IpAllowlistDto,
    @CurrentCaller() caller: Caller,
  ) {
    await requireAccount(this.catalog, accountId);
    return { cidrs: await this.allowlists.replace(accountId, body.cidrs, caller) };
  }
}
