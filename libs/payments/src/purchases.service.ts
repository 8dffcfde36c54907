import { AuditActor } from '@app/audit';
import { DATABASE, DatabaseHandle } from '@app/db';
import { ApiError } from '@app/http';
import { readBillTo, TaxQuoteService } from '@app/invoices';
import { Inject, Injectable } from '@nestjs/common';
import Stripe from 'stripe';
import { findPurchaseIntent } from './find-purchase-intent';
import { PaymentMethodsService } from './payment-methods.service';
import {
  billToJson,
  PURCHASE_COLUMNS,
  purchaseConfirmKey,
  purchaseIntentKey,
  purchaseIntentParams,
  PurchaseRecord,
} from './purchase-records';
import { PurchaseSettlementService } from './purchase-settlement.service';
import { checkPurchaseAmount, PAYMENTS_OPTIONS, PaymentsOptions, STRIPE } from './stripe-client';
import { StripeCustomersService } from './stripe-customers.service';

/**
 * A PaymentIntent that no attempt has failed yet waits for its confirmation: its card was taken
 * off or changed in Stripe (the dashboard, Stripe.js) without confirming.
 */
function awaitsConfirmation(intent: Stripe.PaymentIntent): boolean {
  return (
    intent.status === 'requires_confirmation' ||
    (intent.status === 'requires_payment_method' && !intent.last_payment_error)
  );
}

export interface PurchaseRequest {
  accountId: string;
  amountMicros: bigint;
  /** A saved card of the account; the default card when omitted. */
  paymentMethodId?: string;
  /** The client's Idempotency-Key: the same key is the same purchase, charged at most once. */
  requestKey: string;
  actor: AuditActor;
}

export interface PurchaseOutcome {
  purchase: PurchaseRecord;
  balanceMicros: bigint | null;
  /** For requires_action: what Stripe.js needs to let the card holder authenticate. */
  clientSecret: string | null;
  nextAction: Stripe.PaymentIntent.NextAction | null;
}

/**
 * Credit purchases by card. The purchase row is written first; then a PaymentIntent is created
 * and confirmed with an idempotency key derived from that row, so a retry (ours, the SDK's or
 * the client's with the same Idempotency-Key) reaches the same PaymentIntent and never charges
 * twice. Credits come only from a succeeded PaymentIntent (PurchaseSettlementService).
 */
@Injectable()
export class PurchasesService {
  constructor(
    @Inject(DATABASE) private readonly database: DatabaseHandle,
    @Inject(STRIPE) private readonly stripe: Stripe,
    @Inject(PAYMENTS_OPTIONS) private readonly options: PaymentsOptions,
    private readonly customers: StripeCustomersService,
    private readonly cards: PaymentMethodsService,
    private readonly settlement: PurchaseSettlementService,
    private readonly tax: TaxQuoteService,
  ) {}

  async purchase(request: PurchaseRequest): Promise<PurchaseOutcome> {
    const { purchase, replayed } = await this.openPurchase(request);
    if (purchase.status === 'succeeded' || purchase.status === 'failed' || purchase.status === 'canceled') {
      return {
        purchase,
        balanceMicros: await this.balanceIfSucceeded(purchase),
        clientSecret: null,
        nextAction: null,
      };
    }
    // An earlier attempt reached Stripe: act on that PaymentIntent's state now (the card holder
    // may have authenticated since, or failed to). Never a second PaymentIntent: the webhook
    // credits only the purchase's own, and replaying the create's idempotency key stops working
    // once Stripe forgets it after 24 hours, so a second one could be charged for nothing.
    const earlier = purchase.payment_intent_id
      ? await this.stripe.paymentIntents.retrieve(purchase.payment_intent_id)
      : replayed
        ? await findPurchaseIntent(
            this.stripe,
            await this.customers.customerOf(purchase.account_id),
            purchase,
          )
        : null;
    if (earlier) {
      if (earlier.status === 'canceled') return this.canceled(purchase, earlier);
      // A failed last attempt (3-D Secure failed, a decline not recorded yet) fails the purchase,
      // as its payment_failed webhook does: the answer does not depend on which came first.
      if (!awaitsConfirmation(earlier)) return this.afterConfirm(purchase, earlier, request.actor);
    }
    let intent: Stripe.PaymentIntent;
    try {
      intent = earlier ? await this.confirmAgain(purchase, earlier) : await this.createIntent(purchase);
    } catch (error) {
      if (error instanceof Stripe.errors.StripeCardError) {
        const failed = await this.settlement.failed(
          purchase,
          'failed',
          {
            code: error.code ?? 'card_declined',
            declineCode: error.decline_code ?? null,
            message: error.message,
          },
          error.payment_intent?.id ?? null,
        );
        throw declined(failed);
      }
      throw error;
    }
    return this.afterConfirm(purchase, intent, request.actor);
  }

  private async createIntent(purchase: PurchaseRecord): Promise<Stripe.PaymentIntent> {
    const customer = await this.customers.customerOf(purchase.account_id);
    return this.stripe.paymentIntents.create(purchaseIntentParams(purchase, customer, { label: 'Credits' }), {
      idempotencyKey: purchaseIntentKey(purchase.id),
    });
  }

  /**
   * A retried purchase whose PaymentIntent waits for confirmation: that same PaymentIntent is
   * confirmed with the card the request chose. The attempt number is stored before the call and
   * names its idempotency key, so the SDK's retries of one call reuse it (I5); a PaymentIntent
   * succeeds at most once, so concurrent retries cannot charge twice.
   */
  private async confirmAgain(
    purchase: PurchaseRecord,
    intent: Stripe.PaymentIntent,
  ): Promise<Stripe.PaymentIntent> {
    const [counted] = await this.database.sql<{ confirm_attempts: number }[]>`
      update credit_purchases set confirm_attempts = confirm_attempts + 1, updated_at = now()
      where id = ${purchase.id} and status <> 'succeeded'
      returning confirm_attempts`;
    if (!counted) return intent;
    return this.stripe.paymentIntents.confirm(
      intent.id,
      { payment_method: purchase.requested_payment_method_id ?? purchase.payment_method_id ?? undefined },
      { idempotencyKey: purchaseConfirmKey(purchase.id, counted.confirm_attempts) },
    );
  }

  /** The PaymentIntent was canceled (in the dashboard, say): so is the purchase; nothing is charged. */
  private async canceled(purchase: PurchaseRecord, intent: Stripe.PaymentIntent): Promise<PurchaseOutcome> {
    const row = await this.settlement.failed(
      purchase,
      'canceled',
      {
        code: intent.cancellation_reason ?? 'canceled',
        declineCode: null,
        message: 'the payment was canceled',
      },
      intent.id,
    );
    return {
      purchase: row,
      balanceMicros: await this.balanceIfSucceeded(row),
      clientSecret: null,
      nextAction: null,
    };
  }

  async find(accountId: string, purchaseId: string): Promise<PurchaseRecord> {
    const [row] = await this.database.sql<PurchaseRecord[]>`
      select ${this.database.sql.unsafe(PURCHASE_COLUMNS)} from credit_purchases where id = ${purchaseId} and account_id = ${accountId}`;
    if (!row) throw new ApiError(404, 'purchase_not_found', 'no such purchase');
    return row;
  }

  list(accountId: string, limit = 100): Promise<PurchaseRecord[]> {
    return this.database.sql<PurchaseRecord[]>`
      select ${this.database.sql.unsafe(PURCHASE_COLUMNS)} from credit_purchases where account_id = ${accountId}
      order by created_at desc limit ${limit}`;
  }

  private async afterConfirm(
    purchase: PurchaseRecord,
    intent: Stripe.PaymentIntent,
    actor: AuditActor,
  ): Promise<PurchaseOutcome> {
    if (intent.status === 'succeeded') {
      const settled = await this.settlement.succeeded(purchase, intent, actor);
      return {
        purchase: settled.purchase,
        balanceMicros: settled.balanceMicros,
        clientSecret: null,
        nextAction: null,
      };
    }
    if (intent.status === 'processing') {
      // Cards settle at once in practice; if not, the webhook credits it when it does.
      return { purchase, balanceMicros: null, clientSecret: null, nextAction: null };
    }
    if (intent.status === 'requires_action') {
      const pending = await this.settlement.failed(
        purchase,
        'requires_action',
        {
          code: 'authentication_required',
          declineCode: null,
          message: 'the card holder must authenticate this payment',
        },
        intent.id,
      );
      return {
        purchase: pending,
        balanceMicros: null,
        clientSecret: intent.client_secret,
        nextAction: intent.next_action,
      };
    }
    const error = intent.last_payment_error;
    const failed = await this.settlement.failed(
      purchase,
      'failed',
      {
        code: error?.code ?? intent.status,
        declineCode: error?.decline_code ?? null,
        message: error?.message ?? null,
      },
      intent.id,
    );
    throw declined(failed);
  }

  /**
   * A replayed row that names no PaymentIntent may still have one: the process may have stopped
   * between Stripe's answer and recording it. Found by the purchase id in its metadata, it is the
   * purchase's PaymentIntent (the webhook accepts it the same way); null when there is none.
   */
  /** The purchase row for this Idempotency-Key: new, or the one an earlier attempt wrote (`replayed`). */
  private async openPurchase(
    request: PurchaseRequest,
  ): Promise<{ purchase: PurchaseRecord; replayed: boolean }> {
    const requestKey = `purchase:${request.accountId}:${request.requestKey}`;
    // A replay is answered from its row before any card is looked up: the default card may have
    // changed, or the card been removed, since the first attempt charged it. Judging the replay by
    // today's cards would tell the client that a paid purchase failed, and a retry under a new key
    // would charge again.
    const earlier = await this.byRequestKey(requestKey);
    if (earlier) return { purchase: asReplayOf(earlier, request), replayed: true };

    checkPurchaseAmount(request.amountMicros, this.options);
    const card = request.paymentMethodId
      ? await this.cards.find(request.accountId, request.paymentMethodId)
      : await this.cards.defaultOf(request.accountId);
    if (!card)
      throw new ApiError(422, 'no_payment_method', 'add a card or choose one with payment_method_id');

    const { sql } = this.database;
    // Tax is decided once, here: a replay of the key keeps the row's tax even if the address or
    // an exemption changed since (the invoice copies the row).
    const tax = await this.tax.quote(request.accountId, request.amountMicros);
    // The invoice is made out to the address the tax came from, however late the payment settles (F9).
    const billTo = await readBillTo(sql, request.accountId);
    const [created] = await sql<PurchaseRecord[]>`
      insert into credit_purchases (account_id, kind, request_key, amount_micros, tax_micros, tax_rate_ppm, tax_jurisdiction,
                                    tax_exempt, payment_method_id, card_brand, card_last4, requested_payment_method_id,
                                    bill_to, purchase_order_number, billing_reference)
      values (${request.accountId}, 'purchase', ${requestKey}, ${request.amountMicros}, ${tax.taxMicros}, ${tax.ratePpm},
              ${tax.jurisdiction}, ${tax.exempt}, ${card.id}, ${card.brand}, ${card.last4}, ${card.id},
              ${billToJson(sql, billTo)}, ${billTo.purchaseOrderNumber}, ${billTo.billingReference})
      on conflict (request_key) do nothing
      returning ${sql.unsafe(PURCHASE_COLUMNS)}`;
    if (created) return { purchase: created, replayed: false };
    // A concurrent request with the same key wrote it first.
    const existing = await this.byRequestKey(requestKey);
    return { purchase: asReplayOf(existing!, request), replayed: true };
  }

  private async byRequestKey(requestKey: string): Promise<PurchaseRecord | undefined> {
    const [row] = await this.database.sql<PurchaseRecord[]>`
      select ${this.database.sql.unsafe(PURCHASE_COLUMNS)} from credit_purchases where request_key = ${requestKey}`;
    return row;
  }

  private async balanceIfSucceeded(purchase: PurchaseRecord): Promise<bigint | null> {
    if (purchase.status !== 'succeeded') return null;
    const [row] = await this.database.sql<{ balance_after_micros: bigint }[]>`
      select balance_after_micros from ledger_entries where idempotency_key = ${'purchase:' + purchase.id}`;
    return row?.balance_after_micros ?? null;
  }
}

/**
 * The row, when `request` repeats the request that opened it. The card is compared only when the
 * request names one, and then with the card the first request chose (not the one that paid: the
 * holder may have paid with another in Stripe.js). A request that names none asked for "the
 * default card", whichever it was then; today's default says nothing about it.
 */
function asReplayOf(existing: PurchaseRecord, request: PurchaseRequest): PurchaseRecord {
  const requestedCard = existing.requested_payment_method_id ?? existing.payment_method_id;
  if (
    existing.amount_micros !== request.amountMicros ||
    (!!request.paymentMethodId && request.paymentMethodId !== requestedCard)
  ) {
    throw new ApiError(409, 'idempotency_key_reused', 'this Idempotency-Key was used for another purchase');
  }
  return existing;
}

function declined(purchase: PurchaseRecord): ApiError {
  return new ApiError(
    402,
    purchase.failure_code ?? 'card_declined',
    purchase.failure_message ?? 'the card was declined',
    { decline_code: purchase.decline_code, purchase_id: purchase.id },
  );
}
