import { TaxEnv } from '@app/config';
import { DynamicModule, Global, Module } from '@nestjs/common';
import { BillingProfileService } from '../billing-profile/billing-profile.service';
import { TaxExemptionsService } from '../tax-exemptions/tax-exemptions.service';
import { TAX_EXEMPTION_OPTIONS } from '../tax-exemptions/tax-exemption-document';
import { TaxCalculator } from './tax-calculator';
import { TaxQuoteService } from './tax-quote.service';
import { TaxRateTable } from './tax-rate-table';

/**
 * Tax rates, the calculator, billing profiles and exemption certificates. Imported once by each
 * app that opens purchases (api, usage-worker) with its validated config; global, so payments
 * injects TaxQuoteService without importing it. The rate files are read here, at boot: a bad file
 * stops the process with its name.
 */
@Global()
@Module({})
export class TaxModule {
  static forRoot(env: TaxEnv): DynamicModule {
    const rates = TaxRateTable.load(env.TAX_US_RATES_FILE, env.TAX_COUNTRY_RATES_FILE, env.TAX_COUNTRY_RATES);
    return {
      module: TaxModule,
      providers: [
        { provide: TaxRateTable, useValue: rates },
        { provide: TaxCalculator, useValue: new TaxCalculator(rates) },
        { provide: TAX_EXEMPTION_OPTIONS, useValue: { maxBytes: env.TAX_EXEMPTION_MAX_BYTES } },
        TaxQuoteService,
        BillingProfileService,
        TaxExemptionsService,
      ],
      exports: [
        TaxRateTable,
        TaxCalculator,
        TAX_EXEMPTION_OPTIONS,
        TaxQuoteService,
        BillingProfileService,
        TaxExemptionsService,
      ],
    };
  }
}
