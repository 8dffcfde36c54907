import { DATABASE, DatabaseHandle, Tx } from '@app/db';
import { Inject, Injectable } from '@nestjs/common';
import { TaxCalculator, taxOnSubtotal, TaxResult, TaxTreatment } from './tax-calculator';

interface AccountTaxRow {
  country: string | null;
  region: string | null;
  exempt: boolean;
}

/**
 * How an account's purchases are taxed right now: its billing profile's address and whether an
 * admin has approved one of its exemption certificates. Payments asks when it opens a purchase
 * row and stores the answer on it (credit_purchases.tax_*); the invoice copies that row, so a
 * later change of address, rate file or exemption never alters a purchase already opened.
 */
@Injectable()
export class TaxQuoteService {
  constructor(
    @Inject(DATABASE) private readonly database: DatabaseHandle,
    private readonly calculator: TaxCalculator,
  ) {}

  async treatmentFor(
    accountId: string,
    sql: Tx | DatabaseHandle['sql'] = this.database.sql,
  ): Promise<TaxTreatment> {
    const [row] = await sql<AccountTaxRow[]>`
      select p.country, p.region,
             exists (select 1 from tax_exemptions e where e.account_id = ${accountId} and e.status = 'approved') as exempt
      from (select ${accountId}::uuid as account_id) a
      left join billing_profiles p on p.account_id = a.account_id`;
    return this.calculator.treatment(row?.country ?? null, row?.region ?? null, row?.exempt ?? false);
  }

  /** The tax of a purchase of `amountMicros` under `treatment` (rounded once, half up, to the cent). */
  taxOn(amountMicros: bigint, treatment: TaxTreatment): TaxResult {
    return { ...treatment, taxMicros: taxOnSubtotal(amountMicros, treatment.ratePpm) };
  }

  async quote(accountId: string, amountMicros: bigint): Promise<TaxResult> {
    return this.taxOn(amountMicros, await this.treatmentFor(accountId));
  }
}
