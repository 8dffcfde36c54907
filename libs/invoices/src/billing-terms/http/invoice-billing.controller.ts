import { auditActorOf } from '@app/audit';
import { AccountIdParam, ApiError, Caller, CurrentCaller, RequireScope } from '@app/http';
import { formatUsd, parseUsd } from '@app/money';
import { Body, Controller, Delete, Get, Param, Put } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import {
  InvoiceBillingError,
  InvoiceBillingTerms,
  InvoiceBillingTermsService,
} from '../invoice-billing-terms.service';
import { DiscountTier, discountPercentToPpm, discountPpmToPercent } from '../volume-discount';
import { InvoiceBillingDto } from './invoice-billing.dto';

export function invoiceBillingView(terms: InvoiceBillingTerms) {
  return {
    account_id: terms.accountId,
    billing_mode: terms.billingMode,
    payment_terms_days: terms.paymentTermsDays,
    credit_limit: formatUsd(terms.creditLimitMicros),
    invoice_billing_since: terms.invoiceBillingSince?.toISOString() ?? null,
    discount_tiers: terms.discountTiers.map((tier) => ({
      from: formatUsd(tier.fromMicros),
      discount_percent: discountPpmToPercent(tier.discountPpm),
    })),
  };
}

function toApiError(error: unknown): never {
  if (error instanceof InvoiceBillingError) throw new ApiError(error.status, error.code, error.message);
  throw error;
}

@ApiTags('admin')
@ApiBearerAuth()
@RequireScope('admin')
@Controller('v1/admin/accounts/:id/invoice-billing')
export class InvoiceBillingController {
  constructor(private readonly terms: InvoiceBillingTermsService) {}

  @Get()
  @ApiOperation({ summary: "An account's billing mode, net terms, credit limit and volume discount tiers" })
  async get(@Param('id', AccountIdParam) accountId: string) {
    return invoiceBillingView(await this.terms.get(accountId).catch(toApiError));
  }

  @Put()
  @ApiOperation({
    summary:
      'Put an enterprise account on invoice billing (or change its terms): usage runs on credit down to -credit_limit, a statement is issued on the 1st of each month for the previous month, due after payment_terms_days. Auto-reload is turned off. 409 enterprise_tier_required for other tiers. Audited.',
  })
  async put(
    @Param('id', AccountIdParam) accountId: string,
    @Body() body: InvoiceBillingDto,
    @CurrentCaller() caller: Caller,
  ) {
    const tiers = parseTiers(body);
    const terms = await this.terms
      .set(
        accountId,
        {
          paymentTermsDays: body.payment_terms_days,
          creditLimitMicros: parseUsd(body.credit_limit),
          discountTiers: tiers,
        },
        auditActorOf(caller),
      )
      .catch(toApiError);
    return invoiceBillingView(terms);
  }

  @Delete()
  @ApiOperation({
    summary:
      'Return the account to prepaid credits (idempotent). 409 balance_below_zero while usage on credit is unpaid. Audited.',
  })
  async delete(@Param('id', AccountIdParam) accountId: string, @CurrentCaller() caller: Caller) {
    return invoiceBillingView(await this.terms.clear(accountId, auditActorOf(caller)).catch(toApiError));
  }
}

function parseTiers(body: InvoiceBillingDto): DiscountTier[] {
  const tiers = (body.discount_tiers ?? []).map((tier, index) => {
    const discountPpm = discountPercentToPpm(tier.discount_percent);
    if (discountPpm === null) {
      throw new ApiError(
        422,
        'validation_failed',
        `discount_tiers[${index}].discount_percent must be from 0 to 100`,
      );
    }
    return { fromMicros: parseUsd(tier.from), discountPpm };
  });
  const starts = new Set(tiers.map((tier) => tier.fromMicros));
  if (starts.size !== tiers.length) {
    throw new ApiError(422, 'validation_failed', 'discount_tiers must not repeat a "from" amount');
  }
  return tiers.sort((a, b) => (a.fromMicros < b.fromMicros ? -1 : 1));
}
