import { AuditActor } from '@app/audit';
import { ApiError } from '@app/http';
import { formatUsd } from '@app/money';
import { Inject, Injectable } from '@nestjs/common';
import { createHash } from 'node:crypto';
import Stripe from 'stripe';
import { PurchaseRecord } from '../purchase-records';
import { microsToCents, STRIPE } from '../stripe-client';
import { RecordRefundService } from './record-refund.service';
import { REFUND_CREDITS_METADATA, refundedSoFar, splitRefund } from './refund-tax';

export interface RefundRequest {
  purchaseId: string;
  /** Credits to take back (their tax is returned with them, refund-tax.ts); null: everything not refunded yet. */
  amountMicros: bigint | null;
  reason: string | null;
  /** The admin's Idempotency-Key: the same key is the same refund, made at most once. */
  requestKey: string;
  actor: AuditActor;
}

export interface RefundOutcome {
  refund: Stripe.Refund;
  purchase: PurchaseRecord;
  /** Balance right after the debit; null while Stripe has the refund pending. */
  balanceMicros: bigint | null;
}

const STRIPE_REASONS = new Set(['duplicate', 'fraudulent', 'requested_by_customer']);

/** Names one refund request in the refund's Stripe metadata, so a replay finds it after any time. */
export function refundRequestTag(requestKey: string): string {
  return createHash('sha256').update(requestKey).digest('hex');
}

/** Stripe idempotency key of a refund request: retries (ours, the SDK's) reach the same refund. */
export function refundIdempotencyKey(purchaseId: string, requestKey: string): string {
  return `refund-${purchaseId}-${refundRequestTag(requestKey)}`;
}

/**
 * Admin refunds of a card purchase: the refund is made in Stripe (which refuses more than the
 * charge has left), then its credits are debited by RecordRefundService, exactly once with the
 * charge.refunded webhook. The refund carries its request in metadata: replaying the
 * Idempotency-Key finds it there, even after Stripe's own idempotency keys have expired.
 */
@Injectable()
export class RefundPurchaseService {
  constructor(
    @Inject(STRIPE) private readonly stripe: Stripe,
    private readonly records: RecordRefundService,
  ) {}

  async refund(request: RefundRequest): Promise<RefundOutcome> {
    const purchase = await this.records.purchase(request.purchaseId);
    if (!purchase) throw new ApiError(404, 'purchase_not_found', 'no such purchase');
    if (purchase.status !== 'succeeded' || !purchase.payment_intent_id) {
      throw new ApiError(
        409,
        'purchase_not_refundable',
        `only a succeeded purchase can be refunded; this one is ${purchase.status}`,
      );
    }
    const { amountMicros } = request;
    if (amountMicros !== null && (amountMicros <= 0n || amountMicros % 10_000n !== 0n)) {
      throw new ApiError(422, 'invalid_amount', 'amount must be whole cents, more than 0');
    }
    const requested = amountMicros === null ? 'remaining' : String(microsToCents(amountMicros));
    const tag = refundRequestTag(request.requestKey);
    // Two refunds at once would each see the other's credits and tax as not yet refunded: two
    // halves would each ask for the rounded-up half of the tax (a cent more than the charge has
    // left, so Stripe refuses one), and a refused one would report a stale "remaining".
    const refund = await this.records.oneRefundAtATime(purchase.id, async () => {
      const earlier = await this.refundsOf(purchase.payment_intent_id!);
      const found = earlier.find((candidate) => candidate.metadata?.refund_request === tag);
      if (
        found &&
        (found.metadata?.requested_amount !== requested ||
          (found.metadata?.reason ?? null) !== request.reason)
      ) {
        throw new ApiError(409, 'idempotency_key_reused', 'this Idempotency-Key was used for another refund');
      }
      return found ?? (await this.create(purchase, request, requested, tag, earlier));
    });
    const applied =
      refund.status === 'succeeded' ? await this.records.apply(purchase, refund, request.actor) : null;
    return {
      refund,
      purchase: (await this.records.purchase(purchase.id))!,
      balanceMicros: applied?.balanceMicros ?? null,
    };
  }

  private async create(
    purchase: PurchaseRecord,
    request: RefundRequest,
    requested: string,
    tag: string,
    earlier: Stripe.Refund[],
  ): Promise<Stripe.Refund> {
    // The card paid credits + tax: the refund returns the credits asked for and their share of the tax.
    const refunded = refundedSoFar(purchase, earlier);
    const remaining = purchase.amount_micros - refunded.creditsMicros;
    const credits = request.amountMicros ?? remaining;
    if (credits <= 0n || credits > remaining) throw exceedsRemaining(remaining);
    const split = splitRefund(purchase, refunded, credits);
    try {
      return await this.stripe.refunds.create(
        {
          payment_intent: purchase.payment_intent_id!,
          amount: microsToCents(split.creditsMicros + split.taxMicros),
          ...(request.reason && STRIPE_REASONS.has(request.reason)
            ? { reason: request.reason as Stripe.RefundCreateParams.Reason }
            : {}),
          metadata: {
            purchase_id: purchase.id,
            refund_request: tag,
            requested_amount: requested,
            [REFUND_CREDITS_METADATA]: String(microsToCents(split.creditsMicros)),
            ...(request.reason ? { reason: request.reason } : {}),
          },
        },
        { idempotencyKey: refundIdempotencyKey(purchase.id, request.requestKey) },
      );
    } catch (error) {
      if (error instanceof Stripe.errors.StripeIdempotencyError) {
        throw new ApiError(409, 'idempotency_key_reused', 'this Idempotency-Key was used for another refund');
      }
      // Stripe is the judge of what is left (a refund made in the dashboard counts too).
      if (
        error instanceof Stripe.errors.StripeInvalidRequestError &&
        (error.code === 'amount_too_large' || error.code === 'charge_already_refunded')
      ) {
        throw exceedsRemaining(remaining);
      }
      if (error instanceof Stripe.errors.StripeInvalidRequestError && error.code === 'charge_disputed') {
        throw new ApiError(
          409,
          'charge_disputed',
          'the charge is disputed; the bank decides what is returned',
        );
      }
      throw error;
    }
  }

  private refundsOf(paymentIntentId: string): Promise<Stripe.Refund[]> {
    return this.stripe.refunds
      .list({ payment_intent: paymentIntentId, limit: 100 })
      .autoPagingToArray({ limit: 10_000 });
  }
}

/** `remaining`: credits not refunded yet. */
function exceedsRemaining(remaining: bigint): ApiError {
  return new ApiError(
    422,
    'refund_exceeds_remaining',
    'the refund is more than what is left of this purchase',
    { remaining: formatUsd(remaining > 0n ? remaining : 0n) },
  );
}
