import { AuditActor, AuditLogService } from '@app/audit';
import { CatalogWriter } from '@app/catalog';
import { DATABASE, DatabaseHandle, Tx } from '@app/db';
import { Inject, Injectable } from '@nestjs/common';
import { DiscountTier } from './volume-discount';

export const PAYMENT_TERMS_DAYS = [15, 30, 60] as const;
export type PaymentTermsDays = (typeof PAYMENT_TERMS_DAYS)[number];

export interface InvoiceBillingTermsInput {
  paymentTermsDays: PaymentTermsDays;
  creditLimitMicros: bigint;
  discountTiers: DiscountTier[];
}

export interface InvoiceBillingTerms {
  accountId: string;
  billingMode: 'prepaid' | 'invoice';
  paymentTermsDays: number | null;
  creditLimitMicros: bigint;
  discountTiers: DiscountTier[];
  /** When the current run of invoice billing began; usage charged before it was prepaid. */
  invoiceBillingSince: Date | null;
}

export class InvoiceBillingError extends Error {
  constructor(
    readonly status: 404 | 409,
    readonly code: 'account_not_found' | 'enterprise_tier_required' | 'balance_below_zero',
    message: string,
  ) {
    super(message);
  }
}

interface AccountRow {
  tier: string;
  billing_mode: 'prepaid' | 'invoice';
  payment_terms_days: number | null;
  credit_limit_micros: bigint;
  invoice_billing_since: Date | null;
}

/**
 * Switches accounts between prepaid credits and enterprise invoice billing (net terms, a credit
 * limit, volume discount tiers). Each change commits with its audit row, then announces a catalog
 * change so every process's authorize sees the new credit floor.
 */
@Injectable()
export class InvoiceBillingTermsService {
  constructor(
    @Inject(DATABASE) private readonly database: DatabaseHandle,
    private readonly audit: AuditLogService,
    private readonly catalog: CatalogWriter,
  ) {}

  async get(accountId: string): Promise<InvoiceBillingTerms> {
    const terms = await this.database.sql.begin((tx) => this.read(tx, accountId, false));
    if (!terms) throw new InvoiceBillingError(404, 'account_not_found', 'no such account');
    return terms;
  }

  /** Puts an enterprise account on invoice billing, or changes its terms. Auto-reload is turned off. */
  async set(
    accountId: string,
    input: InvoiceBillingTermsInput,
    actor: AuditActor,
  ): Promise<InvoiceBillingTerms> {
    const after = await this.database.sql.begin(async (tx) => {
      const before = await this.read(tx, accountId, true);
      if (!before) throw new InvoiceBillingError(404, 'account_not_found', 'no such account');
      const [{ tier }] = await tx<AccountRow[]>`select tier from accounts where id = ${accountId}`;
      if (tier !== 'enterprise') {
        throw new InvoiceBillingError(
          409,
          'enterprise_tier_required',
          `invoice billing is for enterprise accounts; this account is ${tier}`,
        );
      }
      // Usage charged from this instant on is invoiced; before it, credits paid for it (statements
      // never bill it). New terms on an account already invoiced keep its start.
      await tx`
        update accounts set billing_mode = 'invoice', payment_terms_days = ${input.paymentTermsDays},
               credit_limit_micros = ${input.creditLimitMicros}, updated_at = now(),
               invoice_billing_since = case when billing_mode = 'invoice' then invoice_billing_since else now() end
        where id = ${accountId}`;
      await this.replaceTiers(tx, accountId, input.discountTiers);
      // A card must never top up an account that runs on credit; updated_at makes caches drop its threshold.
      await tx`
        update auto_reload_settings set enabled = false, updated_at = now()
        where account_id = ${accountId} and enabled`;
      const after = (await this.read(tx, accountId, false))!;
      await this.audit.record(tx, {
        accountId,
        actor,
        action: before.billingMode === 'invoice' ? 'invoice_billing.changed' : 'invoice_billing.enabled',
        targetType: 'account',
        targetId: accountId,
        before: auditView(before),
        after: auditView(after),
      });
      return after;
    });
    await this.catalog.announce();
    return after;
  }

  /**
   * Returns the account to prepaid credits. Refused while the balance is below zero: that usage
   * is owed, and a prepaid account below zero could not run a paid request anyway. Settle the
   * open statement (or grant credits) first. Repeating it on a prepaid account changes nothing.
   */
  async clear(accountId: string, actor: AuditActor): Promise<InvoiceBillingTerms> {
    const result = await this.database.sql.begin(async (tx) => {
      const before = await this.read(tx, accountId, true);
      if (!before) throw new InvoiceBillingError(404, 'account_not_found', 'no such account');
      if (before.billingMode === 'prepaid') return { terms: before, changed: false };
      const [{ balance }] = await tx<{ balance: bigint }[]>`
        select coalesce(sum(balance_micros), 0)::bigint as balance from account_balances where account_id = ${accountId}`;
      if (balance < 0n) {
        throw new InvoiceBillingError(
          409,
          'balance_below_zero',
          'the balance is below zero: record the open invoice payment or grant credits first',
        );
      }
      await tx`
        update accounts set billing_mode = 'prepaid', payment_terms_days = null, credit_limit_micros = 0,
               invoice_billing_since = null, updated_at = now()
        where id = ${accountId}`;
      await this.replaceTiers(tx, accountId, []);
      const after = (await this.read(tx, accountId, false))!;
      await this.audit.record(tx, {
        accountId,
        actor,
        action: 'invoice_billing.disabled',
        targetType: 'account',
        targetId: accountId,
        before: auditView(before),
        after: auditView(after),
      });
      return { terms: after, changed: true };
    });
    if (result.changed) await this.catalog.announce();
    return result.terms;
  }

  private async replaceTiers(tx: Tx, accountId: string, tiers: DiscountTier[]): Promise<void> {
    await tx`delete from volume_discount_tiers where account_id = ${accountId}`;
    if (tiers.length === 0) return;
    await tx`
      insert into volume_discount_tiers (account_id, from_micros, discount_ppm)
      select ${accountId}::uuid, t.from_micros, t.discount_ppm
      from unnest(${tiers.map((tier) => tier.fromMicros.toString())}::bigint[],
                  ${tiers.map((tier) => tier.discountPpm)}::int[]) as t(from_micros, discount_ppm)`;
  }

  private async read(tx: Tx, accountId: string, lock: boolean): Promise<InvoiceBillingTerms | null> {
    const [account] = lock
      ? await tx<AccountRow[]>`
          select tier, billing_mode, payment_terms_days, credit_limit_micros, invoice_billing_since
          from accounts where id = ${accountId} for update`
      : await tx<AccountRow[]>`
          select tier, billing_mode, payment_terms_days, credit_limit_micros, invoice_billing_since
          from accounts where id = ${accountId}`;
    if (!account) return null;
    const tiers = await tx<{ from_micros: bigint; discount_ppm: number }[]>`
      select from_micros, discount_ppm from volume_discount_tiers where account_id = ${accountId} order by from_micros`;
    return {
      accountId,
      billingMode: account.billing_mode,
      paymentTermsDays: account.payment_terms_days,
      creditLimitMicros: account.credit_limit_micros,
      discountTiers: tiers.map((row) => ({ fromMicros: row.from_micros, discountPpm: row.discount_ppm })),
      invoiceBillingSince: account.invoice_billing_since,
    };
  }
}

function auditView(terms: InvoiceBillingTerms) {
  return {
    billing_mode: terms.billingMode,
    payment_terms_days: terms.paymentTermsDays,
    credit_limit_micros: terms.creditLimitMicros,
    invoice_billing_since: terms.invoiceBillingSince?.toISOString() ?? null,
    discount_tiers: terms.discountTiers.map((tier) => ({
      from_micros: tier.fromMicros,
      discount_ppm: tier.discountPpm,
    })),
  };
}
