import { auditActorOf } from '@app/audit';
import { AccountIdParam, AccountRoute, Caller, CurrentCaller } from '@app/http';
import { formatUsd, parseUsd } from '@app/money';
import { Body, Controller, Get, Param, Put } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AutoReloadSettingsRecord, AutoReloadSettingsService } from '../auto-reload-settings.service';
import { AutoReloadSettingsDto } from './auto-reload.dto';

const usdOrNull = (micros: bigint | null) => (micros === null ? null : formatUsd(micros));

function settingsView(settings: AutoReloadSettingsRecord) {
  return {
    account_id: settings.account_id,
    enabled: settings.enabled,
    threshold: usdOrNull(settings.threshold_micros),
    amount: usdOrNull(settings.amount_micros),
    monthly_cap: usdOrNull(settings.monthly_cap_micros),
    reloaded_this_month: formatUsd(settings.reloaded_this_month_micros),
    consecutive_failures: settings.consecutive_failures,
    paused: settings.paused_at !== null,
    paused_at: settings.paused_at?.toISOString() ?? null,
    paused_reason: settings.paused_reason,
    updated_at: settings.updated_at?.toISOString() ?? null,
  };
}

@ApiTags('billing')
@ApiBearerAuth()
@Controller('v1/accounts/:id/auto-reload')
export class AutoReloadController {
  constructor(private readonly settings: AutoReloadSettingsService) {}

  @Get()
  @AccountRoute('billing:manage')
  @ApiOperation({
    summary:
      "Auto-reload settings, this month's reloads, and whether failed charges or a dispute paused it (paused_reason)",
  })
  async get(@Param('id', AccountIdParam) accountId: string) {
    return settingsView(await this.settings.get(accountId));
  }

  @Put()
  @AccountRoute('billing:manage')
  @ApiOperation({
    summary:
      'Replace the auto-reload settings: when usage takes the balance below threshold, the default card is charged amount (off-session), within monthly_cap. Saving it enabled ends a pause for a dispute',
  })
  async put(
    @Param('id', AccountIdParam) accountId: string,
    @Body() body: AutoReloadSettingsDto,
    @CurrentCaller() caller: Caller,
  ) {
    const saved = await this.settings.put(
      accountId,
      {
        enabled: body.enabled,
        thresholdMicros: parseUsd(body.threshold),
        amountMicros: parseUsd(body.amount),
        monthlyCapMicros: body.monthly_cap == null ? null : parseUsd(body.monthly_cap),
      },
      auditActorOf(caller),
    );
    return settingsView(saved);
  }
}
