import { SYSTEM_ACTOR } from '@app/audit';
import { DATABASE, DatabaseHandle, Tx } from '@app/db';
import { readBillTo, TaxQuoteService } from '@app/invoices';
import { BalanceStore } from '@app/ledger';
import { AutoReloadPayload, autoReloadJobId, JobAttempt } from '@app/queue';
import { crashAt, FAILPOINT, FailpointName } from '@app/usage';
import { Inject, Injectable } from '@nestjs/common';
import Stripe from 'stripe';
import { currentPaymentMethod } from '../current-payment-method';
import { PaymentMethodRecord, PaymentMethodsService } from '../payment-methods.service';
import { billToJson, PURCHASE_COLUMNS, purchaseIntentParams, PurchaseRecord } from '../purchase-records';
import { findPurchaseIntent } from '../find-purchase-intent';
import { STRIPE } from '../stripe-client';
import { StripeCustomersService } from '../stripe-customers.service';
import { lockAccountBeforeSettings } from './account-lock-order';
import { AutoReloadOutcome, AutoReloadSkipReason } from './auto-reload-outcome';
import { DISPUTE_PAUSE_REASON } from './auto-reload-pause';
import { ChargeFailure, classifyChargeError, classifyLastPaymentError } from './classify-charge-failure';
import { RecordAutoReloadOutcomeService } from './record-auto-reload-outcome.service';
import { RetryAutoReloadService } from './retry-auto-reload.service';

interface SettingsRow {
  enabled: boolean;
  threshold_micros: bigint;
  amount_micros: bigint;
  monthly_cap_micros: bigint | null;
  paused_at: Date | null;
  paused_reason: string | null;
}

const SKIP_MESSAGES: Record<AutoReloadSkipReason, string> = {
  disabled: 'auto-reload was turned off',
  invoice_billing: 'the account is on invoice billing',
  paused: 'auto-reload is paused after failed charges',
  balance_recovered: 'the balance was back at or above the threshold',
  no_default_card: 'the account has no default card',
  monthly_cap_reached: 'this reload would exceed the monthly cap',
  card_removed: 'the card was removed before it was charged',
};

/** The skipped purchase's failure_message: a pause names its cause, failed charges or a dispute. */
function skipMessage(reason: AutoReloadSkipReason, settings: SettingsRow): string {
  if (reason === 'paused' && settings.paused_reason === DISPUTE_PAUSE_REASON) {
    return 'auto-reload is paused since a charge was disputed';
  }
  return SKIP_MESSAGES[reason];
}

/** A temporary failure; the job is retried with back-off (QUEUE_SETTINGS). */
export class RetryableChargeError extends Error {}

/** Settling after the crossing's job gave up: a soft decline or a transient error is final. */
const FINAL: JobAttempt = { attempt: 0, lastAttempt: true, firstDelivery: false };

/**
 * Charges the default card off-session for one auto-reload crossing. The purchase row (request
 * key = the crossing's job id) is written first, or a skip is recorded instead; then the
 * PaymentIntent is created with that key as its Stripe idempotency key, so however often the
 * job runs, a crossing charges the card at most once. Each run asks Stripe for the truth of an
 * existing PaymentIntent rather than trusting what an earlier run got to record.
 */
@Injectable()
export class ChargeAutoReloadService {
  constructor(
    @Inject(DATABASE) private readonly database: DatabaseHandle,
    @Inject(STRIPE) private readonly stripe: Stripe,
    private readonly cards: PaymentMethodsService,
    private readonly customers: StripeCustomersService,
    private readonly balances: BalanceStore,
    private readonly outcomes: RecordAutoReloadOutcomeService,
    @Inject(FAILPOINT) private readonly failpoint: FailpointName | undefined,
    private readonly tax: TaxQuoteService,
    private readonly retries: RetryAutoReloadService,
  ) {}

  /** The crossing's outcome, or null when an earlier run recorded it (or the account has no settings). */
  async reload(payload: AutoReloadPayload, attempt: JobAttempt): Promise<AutoReloadOutcome | null> {
    const requestKey = autoReloadJobId(payload.accountId, payload.crossing);
    let purchase = await this.findPurchase(payload.accountId, requestKey);
    const openedEarlier = purchase !== null;
    if (!purchase) {
      const opened = await this.open(payload, requestKey);
      if (opened.skipped) return opened.skipped;
      purchase = opened.purchase;
    }
    if (!purchase) return null;
    if (await this.outcomes.isRecorded(purchase)) {
      // An earlier run may have died between recording the removed card and the reload it owes.
      if (purchase.failure_code === 'card_removed')
        await this.retries.afterCardRemoved(purchase.account_id, payload.crossing);
      return null;
    }
    return this.charge(purchase, payload.crossing, attempt, openedEarlier);
  }

  /**
   * Writes the crossing's purchase row, or records why it is skipped, under the settings row's
   * lock: concurrent crossings of one account see each other's purchases (the monthly cap).
   */
  private async open(
    payload: AutoReloadPayload,
    requestKey: string,
  ): Promise<{ purchase: PurchaseRecord | null; skipped: AutoReloadOutcome | null }> {
    // Read before the transaction takes its connection, as this one may load the balance from
    // Postgres through another connection of the same pool. No lock below orders balance changes
    // (Redis's), so reading it later would only narrow a window that stays open until the charge.
    const balance = await this.balances.balanceOf(payload.accountId);
    // Address and exemption as they are when the reload is opened; the amount is read under the
    // lock below. Unlike the card, they gain nothing from the account lock: billing profiles and
    // exemptions change without it, and a rename (which takes it) committed while this waits
    // leaves the former name on the bill-to, as if the reload had opened a moment earlier.
    const treatment = await this.tax.treatmentFor(payload.accountId);
    const billTo = await readBillTo(this.database.sql, payload.accountId);
    let skipped: AutoReloadOutcome | null = null;
    const purchase = await this.database.sql.begin(async (tx) => {
      // The purchase row's foreign key needs the account row: lock it before the settings row.
      const billingMode = await lockAccountBeforeSettings(tx, payload.accountId);
      const [settings] = await tx<SettingsRow[]>`
        select enabled, threshold_micros, amount_micros, monthly_cap_micros, paused_at, paused_reason
        from auto_reload_settings where account_id = ${payload.accountId} for update`;
      if (!settings) return null;
      const existing = await this.findPurchase(payload.accountId, requestKey, tx);
      if (existing) return existing;
      // Read after the account lock, not before the transaction: a card change (its FOR UPDATE)
      // that committed while this waited would otherwise leave the reload charging the card the
      // owner had just replaced or removed. Until this commits, no card change commits (a removal
      // detaches the card in Stripe before it locks, though: charge() may still meet that card).
      const card = await this.cards.defaultOf(payload.accountId, tx);
      const reason = await this.skipReason(tx, payload.accountId, billingMode, settings, card, balance);
      const tax = this.tax.taxOn(settings.amount_micros, treatment);
      const [row] = await tx<PurchaseRecord[]>`
        insert into credit_purchases (account_id, kind, request_key, amount_micros, tax_micros, tax_rate_ppm, tax_jurisdiction,
                                      tax_exempt, status, payment_method_id, card_brand, card_last4, requested_payment_method_id,
                                      failure_code, failure_message, bill_to, purchase_order_number, billing_reference)
        values (${payload.accountId}, 'auto_reload', ${requestKey}, ${settings.amount_micros}, ${tax.taxMicros}, ${tax.ratePpm},
                ${tax.jurisdiction}, ${tax.exempt},
                ${reason ? 'canceled' : 'pending'}, ${card?.id ?? null}, ${card?.brand ?? null}, ${card?.last4 ?? null},
                ${card?.id ?? null}, ${reason}, ${reason ? skipMessage(reason, settings) : null},
                ${billToJson(tx, billTo)}, ${billTo.purchaseOrderNumber}, ${billTo.billingReference})
        returning ${tx.unsafe(PURCHASE_COLUMNS)}`;
      if (reason) skipped = await this.outcomes.skipped(tx, row, payload.crossing, reason);
      return row;
    });
    this.outcomes.counted(skipped);
    return { purchase, skipped };
  }

  private async skipReason(
    tx: Tx,
    accountId: string,
    billingMode: string | null,
    settings: SettingsRow,
    card: PaymentMethodRecord | null,
    balance: bigint | null,
  ): Promise<AutoReloadSkipReason | null> {
    if (!settings.enabled) return 'disabled';
    // Terms turn auto-reload off and a save refuses to turn it on again, but settings left on by a
    // save that crossed the switch (before saves locked the account row) must still never charge
    // the card of an account that runs on credit.
    if (billingMode === 'invoice') return 'invoice_billing';
    if (settings.paused_at) return 'paused';
    // A grant or purchase may have arrived since the crossing: nothing to top up.
    if (balance !== null && balance >= settings.threshold_micros) return 'balance_recovered';
    if (!card) return 'no_default_card';
    if (settings.monthly_cap_micros !== null) {
      // Reloads still in flight count too, so concurrent crossings cannot overshoot the cap together.
      const [{ total }] = await tx<{ total: bigint }[]>`
        select coalesce(sum(amount_micros), 0)::bigint as total from credit_purchases
        where account_id = ${accountId} and kind = 'auto_reload' and status in ('succeeded', 'pending')
          and coalesce(succeeded_at, created_at) >= date_trunc('month', now(), 'UTC')`;
      if (total + settings.amount_micros > settings.monthly_cap_micros) return 'monthly_cap_reached';
    }
    return null;
  }

  private async charge(
    purchase: PurchaseRecord,
    crossing: number,
    attempt: JobAttempt,
    openedEarlier: boolean,
  ): Promise<AutoReloadOutcome | null> {
    let intent: Stripe.PaymentIntent;
    try {
      // An earlier run may have created the PaymentIntent and lost the answer (or died before
      // recording it); replaying the create's key finds it only within Stripe's 24 hours, and a
      // job retried later (RetryAutoReloadService, the sweep) must never charge a second one.
      const earlier =
        purchase.payment_intent_id ??
        (openedEarlier
          ? ((
              await findPurchaseIntent(
                this.stripe,
                await this.customers.customerOf(purchase.account_id),
                purchase,
              )
            )?.id ?? null)
          : null);
      intent = earlier
        ? await this.resume(purchase, earlier, attempt)
        : await this.createIntent(purchase, crossing);
    } catch (error) {
      const failure = classifyChargeError(error);
      if (!failure) throw error;
      return this.failed(purchase, crossing, failure, attempt);
    }
    return this.settle(purchase, crossing, intent, attempt);
  }

  /**
   * Settles a crossing from the PaymentIntent Stripe holds for it, when no job of the crossing
   * will (its attempts are used up): `unknown` when Stripe cannot be asked, `none` when it holds
   * none (nothing was charged), else the outcome (null: recorded before, or still processing).
   */
  async settleFromStripe(
    purchase: PurchaseRecord,
    crossing: number,
  ): Promise<{ intent: 'unknown' | 'none' | 'found'; outcome: AutoReloadOutcome | null }> {
    const intent = await this.lookUp(purchase);
    if (intent === undefined || intent === null)
      return { intent: intent === undefined ? 'unknown' : 'none', outcome: null };
    try {
      return { intent: 'found', outcome: await this.settle(purchase, crossing, intent, FINAL) };
    } catch (error) {
      // Processing: its webhook credits it if it succeeds; a later sweep records a failure.
      if (error instanceof RetryableChargeError) return { intent: 'found', outcome: null };
      throw error;
    }
  }

  private async settle(
    purchase: PurchaseRecord,
    crossing: number,
    intent: Stripe.PaymentIntent,
    attempt: JobAttempt,
  ): Promise<AutoReloadOutcome | null> {
    switch (intent.status) {
      case 'succeeded':
        // Test-only: the card is charged, the credit not yet recorded (judged c).
        crashAt(this.failpoint, 'after-charge');
        return this.outcomes.succeeded(purchase, crossing, intent);
      case 'requires_payment_method':
        return this.failed(purchase, crossing, classifyLastPaymentError(intent), attempt);
      case 'requires_action':
      case 'requires_confirmation':
        return this.failed(
          purchase,
          crossing,
          {
            kind: 'authentication',
            code: 'authentication_required',
            declineCode: null,
            message: 'the card holder must authenticate this payment',
            paymentIntent: intent,
          },
          attempt,
        );
      case 'canceled':
        return this.failed(
          purchase,
          crossing,
          { kind: 'hard', code: 'canceled', declineCode: null, message: null, paymentIntent: intent },
          attempt,
        );
      default:
        // processing: the charge is not decided yet; ask again later (the webhook may settle it first).
        throw new RetryableChargeError(`PaymentIntent ${intent.id} is ${intent.status}`);
    }
  }

  private async createIntent(purchase: PurchaseRecord, crossing: number): Promise<Stripe.PaymentIntent> {
    const customer = await this.customers.customerOf(purchase.account_id);
    return this.stripe.paymentIntents.create(
      purchaseIntentParams(purchase, customer, {
        label: 'Auto-reload',
        offSession: true,
        metadata: { crossing: String(crossing) },
      }),
      // The crossing's job id, written on the row before this call: every run of the job sends it.
      { idempotencyKey: purchase.request_key },
    );
  }

  /**
   * A run after an earlier one reached Stripe: the PaymentIntent as it is now, confirmed again
   * only if the earlier attempt was a soft decline (the key per attempt keeps that attempt's
   * confirm single, while a new attempt really tries again).
   */
  private async resume(
    purchase: PurchaseRecord,
    paymentIntentId: string,
    attempt: JobAttempt,
  ): Promise<Stripe.PaymentIntent> {
    const intent = await this.stripe.paymentIntents.retrieve(paymentIntentId);
    if (intent.status !== 'requires_payment_method' || classifyLastPaymentError(intent).kind !== 'soft')
      return intent;
    return this.stripe.paymentIntents.confirm(
      intent.id,
      { payment_method: purchase.payment_method_id ?? undefined, off_session: true },
      { idempotencyKey: `${purchase.request_key}:attempt-${attempt.attempt}` },
    );
  }

  private async failed(
    purchase: PurchaseRecord,
    crossing: number,
    failure: ChargeFailure,
    attempt: JobAttempt,
  ): Promise<AutoReloadOutcome | null> {
    if (await this.cardRemoved(purchase, failure)) {
      const outcome = await this.outcomes.cardRemoved(
        purchase,
        crossing,
        failure,
        SKIP_MESSAGES.card_removed,
      );
      // Test-only: the skip is recorded, the reload it owes not yet made (reload() makes it on redelivery).
      crashAt(this.failpoint, 'after-card-removed');
      await this.retries.afterCardRemoved(purchase.account_id, crossing);
      return outcome;
    }
    const retry = failure.kind === 'soft' || failure.kind === 'transient';
    if (!retry) return this.outcomes.failed(purchase, crossing, failure);
    if (attempt.lastAttempt) {
      if (failure.kind !== 'transient') return this.outcomes.failed(purchase, crossing, failure);
      // Stripe unreachable, or its answer lost: that says nothing of what Stripe did (the create
      // may have charged the card), so the outcome is what Stripe holds now, never a guess.
      const intent = await this.lookUp(purchase);
      if (intent === null) return this.outcomes.failed(purchase, crossing, failure);
      if (intent) return this.settle(purchase, crossing, intent, attempt);
      // Still unreachable: the row stays pending, for the sweep (SweepAutoReloadsService).
    }
    // Remember the PaymentIntent, so the retry confirms it again instead of replaying the create.
    await this.database.sql`
      update credit_purchases set payment_intent_id = coalesce(payment_intent_id, ${failure.paymentIntent?.id ?? null}),
             failure_code = ${failure.code}, decline_code = ${failure.declineCode},
             failure_message = ${failure.message}, updated_at = now()
      where id = ${purchase.id} and status = 'pending'`;
    throw new RetryableChargeError(
      `auto-reload ${purchase.request_key}: ${failure.code}/${failure.declineCode ?? '-'}; ${attempt.lastAttempt ? 'left pending' : 'retrying'}`,
    );
  }

  /**
   * The failure is the owner having removed the purchase's card, not the card declining. Stripe
   * detaches the card before remove() records that here, so Stripe's refusal of a detached card
   * counts too, once Stripe confirms it: the card is then forgotten here as the webhook of the
   * detach would, so the retry that follows cannot charge it again.
   */
  private async cardRemoved(purchase: PurchaseRecord, failure: ChargeFailure): Promise<boolean> {
    // Stripe unreachable says nothing of the card, and the charge may have gone through.
    if (failure.kind === 'transient' || !purchase.payment_method_id) return false;
    if (await this.cards.isDetached(purchase.account_id, purchase.payment_method_id)) return true;
    if (failure.code !== 'payment_method_unexpected_state') return false;
    const method = await currentPaymentMethod(this.stripe, purchase.payment_method_id);
    if (method?.customer) return false;
    await this.cards.markDetached(purchase.account_id, purchase.payment_method_id, SYSTEM_ACTOR);
    return true;
  }

  /** The crossing's PaymentIntent in Stripe, null when Stripe has none, undefined when Stripe cannot be asked. */
  private async lookUp(purchase: PurchaseRecord): Promise<Stripe.PaymentIntent | null | undefined> {
    try {
      return await findPurchaseIntent(
        this.stripe,
        await this.customers.customerOf(purchase.account_id),
        purchase,
      );
    } catch (error) {
      if (classifyChargeError(error)?.kind === 'transient') return undefined;
      throw error;
    }
  }

  private async findPurchase(
    accountId: string,
    requestKey: string,
    tx: Tx | DatabaseHandle['sql'] = this.database.sql,
  ): Promise<PurchaseRecord | null> {
    const [row] = await tx<PurchaseRecord[]>`
      select ${tx.unsafe(PURCHASE_COLUMNS)} from credit_purchases
      where request_key = ${requestKey} and account_id = ${accountId}`;
    return row ?? null;
  }
}
