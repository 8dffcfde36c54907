import { auditActorOf } from '@app/audit';
import { CatalogCache, requireAccount } from '@app/catalog';
import { AccountIdParam, AccountRoute, Caller, CurrentCaller } from '@app/http';
import { parseUsd } from '@app/money';
import { Body, Controller, Get, Param, Put } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AlertSettingsService } from '../alert-settings.service';
import { SpendService } from '../spend.service';
import { AlertSettingsDto } from './alerts.dto';
import { alertSettingsView, spendView } from './views';

@ApiTags('budgets and alerts')
@ApiBearerAuth()
@Controller('v1/accounts/:id')
export class AlertSettingsController {
  constructor(
    private readonly settings: AlertSettingsService,
    private readonly spend: SpendService,
    private readonly catalog: CatalogCache,
  ) {}

  @Get('alert-settings')
  @AccountRoute('billing:manage')
  @ApiOperation({ summary: 'Low-balance alert line, non-essential alerts on or off, extra recipients' })
  async get(@Param('id', AccountIdParam) accountId: string) {
    await requireAccount(this.catalog, accountId);
    return alertSettingsView(await this.settings.get(accountId));
  }

  @Put('alert-settings')
  @AccountRoute('billing:manage')
  @ApiOperation({
    summary:
      'Replace the alert settings. Budget and low-balance alerts are non-essential; auto-reload, payment and invoice notices always go',
  })
  async put(
    @Param('id', AccountIdParam) accountId: string,
    @Body() body: AlertSettingsDto,
    @CurrentCaller() caller: Caller,
  ) {
    await requireAccount(this.catalog, accountId);
    const saved = await this.settings.put(
      accountId,
      {
        lowBalanceMicros: body.low_balance === null ? null : parseUsd(body.low_balance),
        nonEssentialEnabled: body.non_essential_enabled,
        recipients: body.recipients ?? [],
      },
      auditActorOf(caller),
    );
    return alertSettingsView(saved);
  }

  @Get('spend')
  @AccountRoute('usage:read')
  @ApiOperation({
    summary:
      "This period's spend against the budgets, burn rates (last 24 h, last 7 days), projected run-out date and month-end spend",
    description:
      'The period is the current calendar month in UTC. burn_rate_7d = 7-day usage / 7 (half up); runs_out_at = now + (balance + credit limit on invoice billing) / 7-day rate (null without usage or beyond 100 years); projected_month_end_spend = spend + 7-day usage x time left in the month / 7 days (half up).',
  })
  async getSpend(@Param('id', AccountIdParam) accountId: string) {
    await requireAccount(this.catalog, accountId);
    return spendView(accountId, await this.spend.report(accountId));
  }
}
