import { auditActorOf } from '@app/audit';
import { AccountIdParam, AccountRoute, Caller, CurrentCaller } from '@app/http';
import { Body, Controller, Get, Param, Put } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { TaxQuoteService } from '../tax/tax-quote.service';
import { ppmToPercent } from '../tax/tax-rate';
import { BillingProfileDto } from './billing-profile.dto';
import { BillingProfileRecord, BillingProfileService } from './billing-profile.service';

@ApiTags('billing')
@ApiBearerAuth()
@Controller('v1/accounts/:id/billing-profile')
export class BillingProfileController {
  constructor(
    private readonly profiles: BillingProfileService,
    private readonly tax: TaxQuoteService,
  ) {}

  @Get()
  @AccountRoute('billing:manage')
  @ApiOperation({
    summary:
      "The account's bill-to and billing address, and the sales tax its next purchase pays (jurisdiction, rate, exempt)",
  })
  async get(@Param('id', AccountIdParam) accountId: string) {
    return this.view(await this.profiles.get(accountId));
  }

  @Put()
  @AccountRoute('billing:manage')
  @ApiOperation({
    summary:
      'Replace the billing profile (omitted fields are cleared). Applies to purchases opened from now on; issued invoices keep theirs. 422 invalid_region for a U.S. address without a state code',
  })
  async put(
    @Param('id', AccountIdParam) accountId: string,
    @Body() body: BillingProfileDto,
    @CurrentCaller() caller: Caller,
  ) {
    const saved = await this.profiles.put(
      accountId,
      {
        legal_name: body.legal_name ?? null,
        address_line1: body.address_line1 ?? null,
        address_line2: body.address_line2 ?? null,
        city: body.city ?? null,
        region: body.region ?? null,
        postal_code: body.postal_code ?? null,
        country: body.country ?? null,
        tax_id: body.tax_id ?? null,
        purchase_order_number: body.purchase_order_number ?? null,
        billing_reference: body.billing_reference ?? null,
      },
      auditActorOf(caller),
    );
    return this.view(saved);
  }

  private async view(profile: BillingProfileRecord) {
    const treatment = await this.tax.treatmentFor(profile.account_id);
    return {
      account_id: profile.account_id,
      legal_name: profile.legal_name,
      address_line1: profile.address_line1,
      address_line2: profile.address_line2,
      city: profile.city,
      region: profile.region,
      postal_code: profile.postal_code,
      country: profile.country,
      tax_id: profile.tax_id,
      purchase_order_number: profile.purchase_order_number,
      billing_reference: profile.billing_reference,
      tax: {
        jurisdiction: treatment.jurisdiction,
        rate: ppmToPercent(treatment.ratePpm),
        exempt: treatment.exempt,
      },
      updated_at: profile.updated_at?.toISOString() ?? null,
    };
  }
}
