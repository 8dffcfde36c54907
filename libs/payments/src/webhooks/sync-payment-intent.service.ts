import { SYSTEM_ACTOR } from '@app/audit';
import { Inject, Injectable } from '@nestjs/common';
import Stripe from 'stripe';
import { PurchaseRecord } from '../purchase-records';
import { FailureDetails, PurchaseSettlementService } from '../purchase-settlement.service';
import { STRIPE } from '../stripe-client';
import { eventObjectId, EventOutcome, handled, ignored, recordStripeEvent } from './stripe-event-log';
import { StripeOwnersService } from './stripe-owners.service';

/**
 * payment_intent.succeeded, .payment_failed and .canceled: the purchase follows what Stripe says
 * of the PaymentIntent now, not what the event said then, so late or repeated events converge on
 * the same state. A success credits through PurchaseSettlementService, the path the API answer
 * takes too, so both together credit once (ledger row purchase:<id>).
 */
@Injectable()
export class SyncPaymentIntentService {
  constructor(
    @Inject(STRIPE) private readonly stripe: Stripe,
    private readonly owners: StripeOwnersService,
    private readonly settlement: PurchaseSettlementService,
  ) {}

  async handle(event: Stripe.Event): Promise<EventOutcome> {
    const intent = await this.stripe.paymentIntents.retrieve(eventObjectId(event));
    const purchase = await this.owners.purchaseOf(intent);
    if (!purchase) return ignored(`no purchase of ours for ${intent.id}`);
    if (intent.status === 'succeeded') return this.credit(event, purchase, intent);
    const failure = failureOf(intent);
    if (!failure) return ignored(`${intent.id} is ${intent.status}; nothing final yet`);
    if (purchase.status === 'succeeded') return ignored(`purchase ${purchase.id} already succeeded`);
    // Its job records an auto-reload's failure with the failure count and pause; a second writer
    // here could turn its requires_action (finish on session) into failed.
    if (purchase.kind === 'auto_reload') return ignored(`auto-reload ${purchase.id}: recorded by its job`);
    const detail = `purchase ${purchase.id} ${failure.status} (${failure.details.declineCode ?? failure.details.code})`;
    let recorded = false;
    const row = await this.settlement.failed(
      purchase,
      failure.status,
      failure.details,
      intent.id,
      async (tx) => {
        recorded = await recordStripeEvent(tx, event, detail);
      },
    );
    return row.status === 'succeeded'
      ? ignored(`purchase ${purchase.id} already succeeded`)
      : handled(detail, recorded);
  }

  private async credit(
    event: Stripe.Event,
    purchase: PurchaseRecord,
    intent: Stripe.PaymentIntent,
  ): Promise<EventOutcome> {
    const detail = `credited purchase ${purchase.id}`;
    let recorded = false;
    const settled = await this.settlement.succeeded(purchase, intent, SYSTEM_ACTOR, async (tx) => {
      recorded = await recordStripeEvent(tx, event, detail);
    });
    if (settled.credited) return handled(detail, recorded);
    if (settled.purchase.status === 'succeeded')
      return handled(`purchase ${purchase.id} was already credited`);
    // The amount paid differs from the purchase: settlement logged it for a person.
    return ignored(`purchase ${purchase.id} not credited: amount mismatch`);
  }
}

function failureOf(
  intent: Stripe.PaymentIntent,
): { status: 'failed' | 'canceled'; details: FailureDetails } | null {
  const error = intent.last_payment_error;
  if (intent.status === 'canceled') {
    return {
      status: 'canceled',
      details: {
        code: error?.code ?? intent.cancellation_reason ?? 'canceled',
        declineCode: error?.decline_code ?? null,
        message: error?.message ?? null,
      },
    };
  }
  // requires_payment_method after an attempt: that attempt failed; the PaymentIntent waits for another card.
  if (intent.status === 'requires_payment_method' && error) {
    return {
      status: 'failed',
      details: {
        code: error.code ?? 'payment_failed',
        declineCode: error.decline_code ?? null,
        message: error.message ?? null,
      },
    };
  }
  return null;
}
