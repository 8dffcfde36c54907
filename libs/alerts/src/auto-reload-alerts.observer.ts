import { Tx } from '@app/db';
import { formatUsd } from '@app/money';
import type { AutoReloadObserver, AutoReloadOutcome, DisputePause } from '@app/payments';
import { Injectable } from '@nestjs/common';
import { AlertKind, ProjectionDetails, projectionDetails } from './alert-details';
import { AlertRaiser, NewAlert } from './alert-raiser.service';
import { project } from './projections';
import { SpendRepository } from './spend.repository';

/** Dedupe key of an auto-reload alert: once per crossing and kind. */
export function autoReloadAlertKey(accountId: string, crossing: number, kind: AlertKind): string {
  return `${kind}:${accountId}:${crossing}`;
}

/** Dedupe key of the alert that a dispute paused auto-reload: once per dispute. */
export function disputePauseAlertKey(accountId: string, disputeId: string): string {
  return `auto_reload_paused:${accountId}:dispute:${disputeId}`;
}

/**
 * Auto-reload outcomes as alerts (AUTO_RELOAD_OBSERVERS): succeeded, declined, needs
 * authentication, and paused (by the failure that paused it, in addition to that failure's own
 * alert, or by a dispute). Raised in the outcome's (or the dispute's) transaction, so each is
 * raised exactly when its outcome is recorded; skips (disabled, cap reached, balance recovered,
 * already paused) raise nothing.
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

    const { accountId, purchase } = outcome;
    const [settings] = await tx<{ threshold_micros: bigint | null; consecutive_failures: number }[]>`
      select threshold_micros, consecutive_failures from auto_reload_settings where account_id = ${accountId}`;
    const base = {
      purchase_id: purchase.id,
      amount: formatUsd(purchase.amount_micros),
      ...(await this.balanceNow(tx, accountId)),
      threshold: settings?.threshold_micros == null ? null : formatUsd(settings.threshold_micros),
      card: { brand: purchase.card_brand, last4: purchase.card_last4 },
      crossing: outcome.crossing,
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
        kind === 'auto_reload_paused'
          ? { ...base, ...failure, reason: 'failures' }
          : kind === 'auto_reload_declined'
            ? { ...base, ...failure }
            : base,
    }));
    this.raiser.dispatchAfterCommit(await this.raiser.raiseMany(tx, alerts));
  }

  /**
   * The same `auto_reload_paused` kind as a pause after failures (no new alert_kind value, so no
   * migration), told apart by `reason: 'dispute'`: its email says why and how to resume.
   */
  async onDisputePause(tx: Tx, pause: DisputePause): Promise<void> {
    const [settings] = await tx<{ enabled: boolean; threshold_micros: bigint; amount_micros: bigint }[]>`
      select enabled, threshold_micros, amount_micros from auto_reload_settings where account_id = ${pause.accountId}`;
    // Turned off, it was charging nothing: the pause stops nothing the owner relies on.
    if (!settings?.enabled) return;
    const raised = await this.raiser.raise(tx, {
      accountId: pause.accountId,
      kind: 'auto_reload_paused',
      dedupeKey: disputePauseAlertKey(pause.accountId, pause.disputeId),
      details: {
        reason: 'dispute',
        dispute_id: pause.disputeId,
        purchase_id: pause.purchaseId,
        // Stripe's amount is in cents for USD, the only currency we charge in.
        disputed_amount: pause.currency === 'usd' ? formatUsd(BigInt(pause.amount) * 10_000n) : null,
        card: pause.card,
        amount: formatUsd(settings.amount_micros),
        ...(await this.balanceNow(tx, pause.accountId)),
        threshold: formatUsd(settings.threshold_micros),
      },
    });
    this.raiser.dispatchAfterCommit([raised]);
  }

  private async balanceNow(
    tx: Tx,
    accountId: string,
  ): Promise<{ balance: string; projection: ProjectionDetails }> {
    const now = new Date();
    const totals = (await this.spend.usageTotals(tx, [accountId], now)).get(accountId)!;
    const [budget] = await tx<{ amount_micros: bigint }[]>`
      select amount_micros from budgets where account_id = ${accountId} and scope = 'account'`;
    return {
      balance: formatUsd(totals.balanceMicros),
      projection: projectionDetails(project({ now, ...totals }), budget?.amount_micros ?? null),
    };
  }
}
