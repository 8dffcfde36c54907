import { AuditActor, AuditLogService } from '@app/audit';
import { CatalogWriter } from '@app/catalog';
import { DATABASE, DatabaseHandle, Tx } from '@app/db';
import { ApiError } from '@app/http';
import { Inject, Injectable } from '@nestjs/common';
import { PaymentMethodsService } from '../payment-methods.service';
import { checkPurchaseAmount, PAYMENTS_OPTIONS, PaymentsOptions } from '../stripe-client';
import { lockAccountBeforeSettings } from './account-lock-order';
import { AUTO_RELOAD_AUDIT } from './auto-reload-outcome';
import { endDisputePause } from './auto-reload-pause';
import { RetryAutoReloadService } from './retry-auto-reload.service';

export interface AutoReloadSettingsInput {
  enabled: boolean;
  thresholdMicros: bigint;
  amountMicros: bigint;
  /** Null: no monthly cap. */
  monthlyCapMicros: bigint | null;
}

export interface AutoReloadSettingsRecord {
  account_id: string;
  enabled: boolean;
  threshold_micros: bigint | null;
  amount_micros: bigint | null;
  monthly_cap_micros: bigint | null;
  consecutive_failures: number;
  paused_at: Date | null;
  paused_reason: string | null;
  updated_at: Date | null;
  /** Auto-reload credits bought this UTC calendar month (what the cap is measured against). */
  reloaded_this_month_micros: bigint;
}

const COLUMNS =
  'account_id, enabled, threshold_micros, amount_micros, monthly_cap_micros, consecutive_failures, paused_at, paused_reason, updated_at';

/**
 * Per-account auto-reload settings. Every change commits with its audit row, then announces a
 * catalog change: usage workers cache each account's threshold to detect crossings in the
 * same Redis step as the deduction (libs/ledger reserve-change.lua).
 */
@Injectable()
export class AutoReloadSettingsService {
  constructor(
    @Inject(DATABASE) private readonly database: DatabaseHandle,
    @Inject(PAYMENTS_OPTIONS) private readonly options: PaymentsOptions,
    private readonly cards: PaymentMethodsService,
    private readonly audit: AuditLogService,
    private readonly catalog: CatalogWriter,
    private readonly reloadRetries: RetryAutoReloadService,
  ) {}

  async get(accountId: string): Promise<AutoReloadSettingsRecord> {
    const { sql } = this.database;
    const [row] = await sql<Omit<AutoReloadSettingsRecord, 'reloaded_this_month_micros'>[]>`
      select ${sql.unsafe(COLUMNS)} from auto_reload_settings where account_id = ${accountId}`;
    const [{ total }] = await sql<{ total: bigint }[]>`
      select coalesce(sum(amount_micros), 0)::bigint as total from credit_purchases
      where account_id = ${accountId} and kind = 'auto_reload' and status = 'succeeded'
        and succeeded_at >= date_trunc('month', now(), 'UTC')`;
    return { ...(row ?? this.unset(accountId)), reloaded_this_month_micros: total };
  }

  /**
   * Replaces the settings. A pause after failed charges stays until the card changes or a purchase
   * succeeds; a pause for a dispute ends here, when the owner saves auto-reload turned on. Below the
   * threshold after a failed or skipped reload, saving them reloads once (RetryAutoReloadService).
   */
  async put(
    accountId: string,
    input: AutoReloadSettingsInput,
    actor: AuditActor,
  ): Promise<AutoReloadSettingsRecord> {
    this.validate(input);
    await this.database.sql.begin(async (tx) => {
      // Read under the account row's lock: invoice billing terms set at once either commit first and
      // are seen here, or wait for this save and then turn auto-reload off.
      const billingMode = await lockAccountBeforeSettings(tx, accountId);
      if (input.enabled) await this.refuseEnabling(tx, accountId, billingMode);
      const [before] = await tx<Omit<AutoReloadSettingsRecord, 'reloaded_this_month_micros'>[]>`
        select ${tx.unsafe(COLUMNS)} from auto_reload_settings where account_id = ${accountId} for update`;
      const [after] = await tx<Omit<AutoReloadSettingsRecord, 'reloaded_this_month_micros'>[]>`
        insert into auto_reload_settings (account_id, enabled, threshold_micros, amount_micros, monthly_cap_micros)
        values (${accountId}, ${input.enabled}, ${input.thresholdMicros}, ${input.amountMicros}, ${input.monthlyCapMicros})
        on conflict (account_id) do update set enabled = excluded.enabled, threshold_micros = excluded.threshold_micros,
          amount_micros = excluded.amount_micros, monthly_cap_micros = excluded.monthly_cap_micros, updated_at = now()
        returning ${tx.unsafe(COLUMNS)}`;
      await this.audit.record(tx, {
        accountId,
        actor,
        action: 'auto_reload.settings_changed',
        targetType: 'account',
        targetId: accountId,
        before: before ? auditView(before) : null,
        after: auditView(after),
      });
      if (input.enabled && before && (await endDisputePause(tx, accountId))) {
        await this.audit.record(tx, {
          accountId,
          actor,
          action: AUTO_RELOAD_AUDIT.resumed,
          targetType: 'account',
          targetId: accountId,
          before: { paused_at: before.paused_at, paused_reason: before.paused_reason },
          after: { paused_at: null, paused_reason: null },
        });
      }
    });
    await this.catalog.announce();
    // Enabled again or given room under its cap while the balance is below the threshold:
    // the reload a failed or skipped crossing did not make happens now, once.
    await this.reloadRetries.afterFix(accountId);
    return this.get(accountId);
  }

  private async refuseEnabling(tx: Tx, accountId: string, billingMode: string | null): Promise<void> {
    if (billingMode === 'invoice') {
      // Invoice billing runs on credit and is paid by monthly invoice; a card must never top it up.
      throw new ApiError(
        409,
        'invoice_billing',
        'the account is on invoice billing; auto-reload does not apply',
      );
    }
    if (!(await this.cards.defaultOf(accountId, tx))) {
      throw new ApiError(422, 'no_default_card', 'add a card before turning auto-reload on');
    }
  }

  private validate(input: AutoReloadSettingsInput): void {
    checkPurchaseAmount(input.amountMicros, this.options);
    if (input.monthlyCapMicros !== null && input.monthlyCapMicros < input.amountMicros) {
      throw new ApiError(
        422,
        'invalid_monthly_cap',
        'monthly_cap must be at least the reload amount, or null for no cap',
      );
    }
  }

  private unset(accountId: string): Omit<AutoReloadSettingsRecord, 'reloaded_this_month_micros'> {
    return {
      account_id: accountId,
      enabled: false,
      threshold_micros: null,
      amount_micros: null,
      monthly_cap_micros: null,
      consecutive_failures: 0,
      paused_at: null,
      paused_reason: null,
      updated_at: null,
    };
  }
}

function auditView(row: Omit<AutoReloadSettingsRecord, 'reloaded_this_month_micros'>) {
  return {
    enabled: row.enabled,
    threshold_micros: row.threshold_micros,
    amount_micros: row.amount_micros,
    monthly_cap_micros: row.monthly_cap_micros,
  };
}
