import { AuditEntry, AuditLogService, SYSTEM_ACTOR } from '@app/audit';
import { DATABASE, DatabaseHandle, Tx } from '@app/db';
import { BillingMetrics } from '@app/metrics';
import { Inject, Injectable, Optional } from '@nestjs/common';
import Stripe from 'stripe';
import { PURCHASE_COLUMNS, PurchaseRecord } from '../purchase-records';
import { PurchaseSettlementService } from '../purchase-settlement.service';
import { lockAccountBeforeSettings } from './account-lock-order';
import {
  AUTO_RELOAD_AUDIT,
  AUTO_RELOAD_OBSERVERS,
  AutoReloadObserver,
  AutoReloadOutcome,
  AutoReloadSkipReason,
} from './auto-reload-outcome';
import { ChargeFailure } from './classify-charge-failure';

/** Failed charges in a row that pause auto-reload until the card changes or a purchase succeeds. */
export const MAX_CONSECUTIVE_FAILURES = 3;

const OUTCOME_ACTIONS = [
  AUTO_RELOAD_AUDIT.succeeded,
  AUTO_RELOAD_AUDIT.declined,
  AUTO_RELOAD_AUDIT.authentication_required,
  AUTO_RELOAD_AUDIT.skipped,
];

/**
 * Records the outcome of one crossing: the purchase row's final state, the failure count and
 * pause, the audit rows and the observers, in one transaction, once. The audit row of the outcome
 * is what says "recorded": it is checked under the purchase row's lock, so a redelivered job, or
 * the webhook having settled the same PaymentIntent first, never records an outcome twice.
 */
@Injectable()
export class RecordAutoReloadOutcomeService {
  constructor(
    @Inject(DATABASE) private readonly database: DatabaseHandle,
    private readonly audit: AuditLogService,
    private readonly settlement: PurchaseSettlementService,
    private readonly metrics: BillingMetrics,
    @Optional() @Inject(AUTO_RELOAD_OBSERVERS) private readonly observers: AutoReloadObserver[] = [],
  ) {}

  async isRecorded(purchase: PurchaseRecord, tx: Tx | DatabaseHandle['sql'] = this.database.sql) {
    const rows = await tx`
      select 1 from audit_log
      where account_id = ${purchase.account_id} and created_at >= ${purchase.created_at}
        and target_type = 'purchase' and target_id = ${purchase.id} and action = any(${OUTCOME_ACTIONS})
      limit 1`;
    return rows.length > 0;
  }

  /** In the transaction that wrote the skipped purchase row. Count it (`counted`) after that commits. */
  async skipped(
    tx: Tx,
    purchase: PurchaseRecord,
    crossing: number,
    reason: AutoReloadSkipReason,
  ): Promise<AutoReloadOutcome> {
    const outcome = this.outcome('skipped', purchase, crossing, { skipReason: reason });
    await this.audit.record(tx, this.entry(AUTO_RELOAD_AUDIT.skipped, purchase, crossing, { reason }));
    await this.notify(tx, outcome);
    return outcome;
  }

  /** Credits a succeeded PaymentIntent (once, by the ledger) and records the outcome (once). */
  async succeeded(
    purchase: PurchaseRecord,
    crossing: number,
    intent: Stripe.PaymentIntent,
  ): Promise<AutoReloadOutcome | null> {
    let outcome: AutoReloadOutcome | null = null;
    const record = async (tx: Tx, settled: PurchaseRecord) => {
      if (await this.isRecorded(settled, tx)) return;
      outcome = this.outcome('succeeded', settled, crossing);
      await this.audit.record(
        tx,
        this.entry(AUTO_RELOAD_AUDIT.succeeded, settled, crossing, { payment_intent: intent.id }),
      );
      await this.notify(tx, outcome);
    };
    // Normally the credit, its audit rows and this outcome commit together...
    const settled = await this.settlement.succeeded(purchase, intent, SYSTEM_ACTOR, record);
    if (settled.purchase.status !== 'succeeded') return null;
    // ...but the webhook may have credited it first, without this outcome.
    if (!outcome) await this.inLockedPurchase(purchase.id, (tx, locked) => record(tx, locked));
    this.counted(outcome);
    return outcome;
  }

  /**
   * A final failure: the purchase is failed (or requires_action for authentication), and unless
   * the failure says nothing about the card (Stripe unreachable), it counts towards the pause.
   */
  async failed(
    purchase: PurchaseRecord,
    crossing: number,
    failure: ChargeFailure,
  ): Promise<AutoReloadOutcome | null> {
    const authentication = failure.kind === 'authentication';
    const intent = failure.paymentIntent;
    const outcome = await this.inLockedPurchase(purchase.id, async (tx, locked) => {
      if (locked.status === 'succeeded' || (await this.isRecorded(locked, tx))) return null;
      const [row] = await tx<PurchaseRecord[]>`
        update credit_purchases set status = ${authentication ? 'requires_action' : 'failed'},
               failure_code = ${failure.code}, decline_code = ${failure.declineCode},
               failure_message = ${failure.message}, updated_at = now(),
               payment_intent_id = coalesce(payment_intent_id, ${intent?.id ?? null})
        where id = ${locked.id}
        returning ${tx.unsafe(PURCHASE_COLUMNS)}`;
      const failures = failure.kind === 'transient' ? null : await this.countFailure(tx, row, failure);
      const result = this.outcome(authentication ? 'authentication_required' : 'declined', row, crossing, {
        paused: failures?.paused ?? false,
        authentication: authentication
          ? {
              paymentIntentId: intent?.id ?? row.payment_intent_id ?? '',
              paymentMethodId: row.payment_method_id,
              clientSecret: intent?.client_secret ?? null,
            }
          : null,
      });
      const details = {
        code: failure.code,
        decline_code: failure.declineCode,
        payment_intent: row.payment_intent_id,
        consecutive_failures: failures?.count ?? null,
        // The owner finishes it on session: Stripe.js confirms the PaymentIntent with the card.
        ...(authentication ? { next_step: 'confirm_payment_on_session' } : {}),
      };
      const entries = [this.entry(AUTO_RELOAD_AUDIT[result.kind], row, crossing, details)];
      if (failures?.paused) {
        entries.push(
          this.entry(AUTO_RELOAD_AUDIT.paused, row, crossing, {
            consecutive_failures: failures.count,
            reason: failures.reason,
          }),
        );
      }
      await this.audit.recordMany(tx, entries);
      await this.notify(tx, result);
      return result;
    });
    this.counted(outcome);
    return outcome;
  }

  /**
   * The card the purchase names was removed before Stripe charged it: nothing was charged and
   * nothing says the owner's cards decline, so the purchase is canceled as a skip, counting no
   * failure and raising no declined alert. The crossing's reload is the new default's to make
   * (RetryAutoReloadService.afterCardRemoved).
   */
  async cardRemoved(
    purchase: PurchaseRecord,
    crossing: number,
    failure: ChargeFailure,
    message: string,
  ): Promise<AutoReloadOutcome | null> {
    const reason: AutoReloadSkipReason = 'card_removed';
    const outcome = await this.inLockedPurchase(purchase.id, async (tx, locked) => {
      if (locked.status === 'succeeded' || (await this.isRecorded(locked, tx))) return null;
      const [row] = await tx<PurchaseRecord[]>`
        update credit_purchases set status = 'canceled', failure_code = ${reason}, decline_code = null,
               failure_message = ${message}, updated_at = now(),
               payment_intent_id = coalesce(payment_intent_id, ${failure.paymentIntent?.id ?? null})
        where id = ${locked.id}
        returning ${tx.unsafe(PURCHASE_COLUMNS)}`;
      const result = this.outcome('skipped', row, crossing, { skipReason: reason });
      // Stripe's own code too: an operator tells a removal seen only by Stripe from one seen here.
      await this.audit.record(
        tx,
        this.entry(AUTO_RELOAD_AUDIT.skipped, row, crossing, { reason, stripe_code: failure.code }),
      );
      await this.notify(tx, result);
      return result;
    });
    this.counted(outcome);
    return outcome;
  }

  /** Metrics once the outcome has committed. */
  counted(outcome: AutoReloadOutcome | null): void {
    if (!outcome) return;
    this.metrics.autoReloads.inc({ outcome: outcome.kind });
    if (outcome.paused) this.metrics.autoReloads.inc({ outcome: 'paused' });
  }

  private async countFailure(tx: Tx, purchase: PurchaseRecord, failure: ChargeFailure) {
    // The alerts the observers raise next reference the account: lock it before the settings row.
    await lockAccountBeforeSettings(tx, purchase.account_id);
    const [settings] = await tx<{ consecutive_failures: number; paused_at: Date | null }[]>`
      update auto_reload_settings set consecutive_failures = consecutive_failures + 1, updated_at = now()
      where account_id = ${purchase.account_id}
      returning consecutive_failures, paused_at`;
    if (!settings) return null;
    const reason = `${settings.consecutive_failures} failed auto-reloads in a row; last: ${failure.declineCode ?? failure.code}`;
    const pause = settings.consecutive_failures >= MAX_CONSECUTIVE_FAILURES && settings.paused_at === null;
    if (pause) {
      await tx`
        update auto_reload_settings set paused_at = now(), paused_reason = ${reason}
        where account_id = ${purchase.account_id}`;
    }
    return { count: settings.consecutive_failures, paused: pause, reason };
  }

  private async inLockedPurchase<T>(
    purchaseId: string,
    run: (tx: Tx, purchase: PurchaseRecord) => Promise<T>,
  ): Promise<T> {
    return this.database.sql.begin(async (tx) => {
      const [locked] = await tx<PurchaseRecord[]>`
        select ${tx.unsafe(PURCHASE_COLUMNS)} from credit_purchases where id = ${purchaseId} for update`;
      return run(tx, locked);
    }) as Promise<T>;
  }

  private async notify(tx: Tx, outcome: AutoReloadOutcome): Promise<void> {
    for (const observer of this.observers) await observer.onAutoReloadOutcome(tx, outcome);
  }

  private outcome(
    kind: AutoReloadOutcome['kind'],
    purchase: PurchaseRecord,
    crossing: number,
    extra: Partial<Pick<AutoReloadOutcome, 'skipReason' | 'authentication' | 'paused'>> = {},
  ): AutoReloadOutcome {
    return {
      kind,
      accountId: purchase.account_id,
      crossing,
      purchase,
      skipReason: extra.skipReason ?? null,
      authentication: extra.authentication ?? null,
      paused: extra.paused ?? false,
    };
  }

  private entry(
    action: string,
    purchase: PurchaseRecord,
    crossing: number,
    details: Record<string, unknown>,
  ): AuditEntry {
    return {
      accountId: purchase.account_id,
      actor: SYSTEM_ACTOR,
      action,
      targetType: 'purchase',
      targetId: purchase.id,
      before: null,
      after: {
        amount_micros: purchase.amount_micros,
        crossing,
        request_key: purchase.request_key,
        card: purchase.payment_method_id
          ? { id: purchase.payment_method_id, brand: purchase.card_brand, last4: purchase.card_last4 }
          : null,
        ...details,
      },
    };
  }
}
