import { AuditActor, AuditLogService } from '@app/audit';
import { DATABASE, DatabaseHandle } from '@app/db';
import { ApiError } from '@app/http';
import { Inject, Injectable } from '@nestjs/common';
import { TaxCalculator } from '../tax/tax-calculator';

export interface BillingProfileFields {
  legal_name: string | null;
  address_line1: string | null;
  address_line2: string | null;
  city: string | null;
  region: string | null;
  postal_code: string | null;
  country: string | null;
  tax_id: string | null;
  purchase_order_number: string | null;
  billing_reference: string | null;
}

export interface BillingProfileRecord extends BillingProfileFields {
  account_id: string;
  updated_at: Date | null;
}

const FIELDS = [
  'legal_name',
  'address_line1',
  'address_line2',
  'city',
  'region',
  'postal_code',
  'country',
  'tax_id',
  'purchase_order_number',
  'billing_reference',
] as const satisfies readonly (keyof BillingProfileFields)[];

const COLUMNS = `account_id, ${FIELDS.join(', ')}, updated_at`;

const EMPTY: BillingProfileFields = Object.fromEntries(
  FIELDS.map((field) => [field, null]),
) as unknown as BillingProfileFields;

/**
 * The bill-to of an account's invoices and the address its sales tax follows. Issued invoices
 * copy it, and purchases store their tax when opened, so a change here only affects what comes
 * next.
 */
@Injectable()
export class BillingProfileService {
  constructor(
    @Inject(DATABASE) private readonly database: DatabaseHandle,
    private readonly audit: AuditLogService,
    private readonly calculator: TaxCalculator,
  ) {}

  async get(accountId: string): Promise<BillingProfileRecord> {
    await this.requireAccount(accountId);
    const [row] = await this.database.sql<BillingProfileRecord[]>`
      select ${this.database.sql.unsafe(COLUMNS)} from billing_profiles where account_id = ${accountId}`;
    return row ?? { account_id: accountId, ...EMPTY, updated_at: null };
  }

  async put(
    accountId: string,
    input: Partial<BillingProfileFields>,
    actor: AuditActor,
  ): Promise<BillingProfileRecord> {
    const fields = this.normalise(input);
    await this.requireAccount(accountId);
    const { sql } = this.database;
    return sql.begin(async (tx) => {
      const [before] = await tx<BillingProfileRecord[]>`
        select ${tx.unsafe(COLUMNS)} from billing_profiles where account_id = ${accountId} for update`;
      const [after] = await tx<BillingProfileRecord[]>`
        insert into billing_profiles ${tx({ account_id: accountId, ...fields }, 'account_id', ...FIELDS)}
        on conflict (account_id) do update set
          ${tx.unsafe(FIELDS.map((field) => `${field} = excluded.${field}`).join(', '))}, updated_at = now()
        returning ${tx.unsafe(COLUMNS)}`;
      await this.audit.record(tx, {
        accountId,
        actor,
        action: 'billing_profile.updated',
        targetType: 'billing_profile',
        targetId: accountId,
        before: before ? pick(before) : null,
        after: pick(after),
      });
      return after;
    });
  }

  /** Trimmed, empty strings as null, codes upper case; a U.S. address needs a known state. */
  private normalise(input: Partial<BillingProfileFields>): BillingProfileFields {
    const fields = { ...EMPTY };
    for (const field of FIELDS) {
      const value = input[field]?.trim();
      fields[field] = value ? value : null;
    }
    if (fields.country) fields.country = fields.country.toUpperCase();
    if (fields.country === 'US') {
      const state = fields.region?.toUpperCase() ?? null;
      if (!state || !this.calculator.isUsState(state)) {
        throw new ApiError(
          422,
          'invalid_region',
          'a U.S. billing address needs region set to a state code (CA, NY, DC, ...)',
          { errors: [{ field: 'region', code: 'invalid', message: 'region must be a U.S. state code' }] },
        );
      }
      fields.region = state;
    }
    return fields;
  }

  private async requireAccount(accountId: string): Promise<void> {
    const [account] = await this.database.sql`select 1 from accounts where id = ${accountId}`;
    if (!account) throw new ApiError(404, 'account_not_found', 'no such account');
  }
}

function pick(row: BillingProfileFields): BillingProfileFields {
  return Object.fromEntries(FIELDS.map((field) => [field, row[field]])) as unknown as BillingProfileFields;
}
