import { auditActorOf } from '@app/audit';
import {
  AccountIdParam,
  ApiError,
  Caller,
  CurrentCaller,
  requireIdempotencyKey,
  RequireScope,
} from '@app/http';
import { formatUsd, parseUsd } from '@app/money';
import { Body, Controller, Headers, HttpCode, Param, Post } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiHeader,
  ApiOperation,
  ApiProperty,
  ApiPropertyOptional,
  ApiTags,
} from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, Matches, MaxLength, MinLength } from 'class-validator';
import {
  AccountNotFoundError,
  GrantCreditsService,
  IdempotencyKeyReusedError,
} from '../grant-credits.service';
import { BalanceOutOfRangeError } from '../balance-limit';
import { ReconcileBalancesService, reconcileReportJson } from '../reconcile-balances.service';

export class CreditGrantDto {
  @ApiProperty({
    example: '25.00',
    description:
      'USD, a decimal string with at most 6 decimals, more than 0; the balance after it may be at most 100000000000 ' +
      '(else 422 amount_out_of_range)',
  })
  @Matches(/^\d{1,12}(\.\d{1,6})?$/, {
    message: 'amount must be a decimal string in USD with at most 6 decimals',
  })
  amount: string;

  @ApiProperty({ example: 'onboarding credit' })
  @IsString()
  @MinLength(1)
  @MaxLength(500)
  reason: string;

  @ApiPropertyOptional({
    enum: ['grant', 'purchase'],
    default: 'grant',
    description:
      'purchase records credits paid outside the card flow (wire, invoice); they count as bought credits',
  })
  @IsOptional()
  @IsIn(['grant', 'purchase'])
  kind?: 'grant' | 'purchase';
}

@ApiTags('admin')
@ApiBearerAuth()
@RequireScope('admin')
@Controller('v1/admin')
export class LedgerAdminController {
  constructor(
    private readonly grants: GrantCreditsService,
    private readonly reconciler: ReconcileBalancesService,
  ) {}

  @Post('accounts/:id/credit-grants')
  @ApiHeader({
    name: 'Idempotency-Key',
    required: true,
    description: 'Same key, same result, no second grant',
  })
  @ApiOperation({ summary: 'Grant credits; replaying the Idempotency-Key returns the first result' })
  async grant(
    @Param('id', AccountIdParam) accountId: string,
    @Body() body: CreditGrantDto,
    @CurrentCaller() caller: Caller,
    @Headers('idempotency-key') requestKey?: string,
  ) {
    const idempotencyKey = requireIdempotencyKey(requestKey);
    // The key names the grant's pending change in Redis, whose side fields are "<change>|x":
    // "K|x" as a key would be taken for K's side field by its settle and by the reconciler.
    if (idempotencyKey.includes('|')) {
      throw new ApiError(
        400,
        'invalid_idempotency_key',
        'a credit grant\'s Idempotency-Key may not contain "|"',
      );
    }
    const amountMicros = parseUsd(body.amount);
    if (amountMicros <= 0n) throw new ApiError(422, 'validation_failed', 'amount must be more than 0');
    try {
      const result = await this.grants.grant({
        accountId,
        amountMicros,
        reason: body.reason,
        requestKey: idempotencyKey,
        kind: body.kind ?? 'grant',
        actor: auditActorOf(caller),
      });
      return { balance: formatUsd(result.balanceMicros) };
    } catch (error) {
      if (error instanceof AccountNotFoundError) throw new ApiError(404, 'account_not_found', error.message);
      if (error instanceof IdempotencyKeyReusedError)
        throw new ApiError(409, 'idempotency_key_reused', error.message);
      if (error instanceof BalanceOutOfRangeError)
        throw new ApiError(422, 'amount_out_of_range', error.message);
      throw error;
    }
  }

  @Post('reconcile')
  @HttpCode(200)
  @ApiOperation({ summary: 'Compare every Redis balance with Postgres now and repair drift' })
  async reconcile() {
    return reconcileReportJson(await this.reconciler.reconcileAll());
  }
}
