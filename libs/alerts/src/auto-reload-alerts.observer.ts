import { Tx } from '@app/db';
import { formatUsd } from '@app/money';
import type { AutoReloadObserver, AutoReloadOutcome } from '@app/payments';
import { Injectable } from '@nestjs/common';
import { AlertKind, projectionDetails } from './alert-details';
import { AlertRaiser, NewAlert } from './alert-raiser.service';
import { project } from './projections';
import { SpendRepository } from './spend.repository';

/** Dedupe key of an auto-reload alert: once per crossing and kind. */
export function autoReloadAlertKey(accountId: string, crossing: number, kind: AlertKind): string {
  return `${kind}:${accountId}:${crossing}`;
}

/**
 * Auto-reload outcomes as alerts (AUTO_RELOAD_OBSERVERS): succeeded, declined, needs
 * authentication, and paused (by the failure that paused it, in addition to that failure's own
 * alert). Raised in the outcome's transaction, so each is raised exactly when its outcome is
 * recorded; skips (disabled, cap reached, balance recovered, already paused) raise nothing.
 */
@Injectable()
export class AutoReloadAlertsObserver implements AutoReloadObserver {
  constructor(
    private readonly raiser: AlertRaiser,
    private readonly spend: SpendRepository,
  ) {}

  async onAutoReloadOutcome(tx: Tx, outcome: AutoReloadOutcome): Promise<void> {
    const kinds: AlertKind[] = [];
    if (outcome.kind === 'succeeded') kinds.push('auto_reload_succeeded');
    if (outcome.kind === 'declined') kinds.push('auto_reload_declined');
    if (outcome.kind === 'authentication_required') kinds.push('auto_reload_action_required');
    if (outcome.paused) kinds.push('auto_reload_paused');
    if (kinds.length === 0) return;

    const now = new Date();
    const { accountId, purchase } = outcome;
    const totals = (await this.spend.usageTotals(tx, [accountId], now)).get(accountId)!;
    const [settings] = await tx<{ threshold_micros: bigint | null; consecutive_failures: number }[]>`
      select threshold_micros, consecutive_failures from auto_reload_settings where account_id = ${accountId}`;
    const [budget] = await tx<{ amount_micros: bigint }[]>`
      select amount_micros from budgets where account_id = ${accountId} and scope = 'account'`;
    const base = {
      purchase_id: purchase.id,
      amount: formatUsd(purchase.amount_micros),
      balance: formatUsd(totals.balanceMicros),
      threshold: settings?.threshold_micros == null ? null : formatUsd(settings.threshold_micros),
      card: { brand: purchase.card_brand, last4: purchase.card_last4 },
      crossing: outcome.crossing,
      projection: projectionDetails(project({ now, ...totals }), budget?.amount_micros ?? null),
    };
    const failure = {
      decline_code: purchase.decline_code,
      failure_message: purchase.failure_message,
      consecutive_failures: settings?.consecutive_failures ?? 0,
    };
    const alerts: NewAlert[] = kinds.map((kind) => ({
      accountId,
      kind,
      dedupeKey: autoReloadAlertKey(accountId, outcome.crossing, kind),
      details:
        kind === 'auto_reload_declined' || kind === 'auto_reload_paused' ? { ...base, ...failure } : base,
    }));
    this.raiser.dispatchAfterCommit(await this.raiser.raiseMany(tx, alerts));
  }
}
