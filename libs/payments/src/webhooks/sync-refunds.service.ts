import { Inject, Injectable } from '@nestjs/common';
import Stripe from 'stripe';
import { RecordRefundService } from '../refunds/record-refund.service';
import { STRIPE } from '../stripe-client';
import { eventObjectId, EventOutcome, handled, idOf, ignored, recordStripeEvent } from './stripe-event-log';
import { StripeOwnersService } from './stripe-owners.service';

/**
 * charge.refunded (and refund updates, e.g. a pending refund that succeeded, or refund.failed):
 * debits every succeeded refund of the charge the ledger does not have yet, including refunds
 * made in the Stripe dashboard, and credits back debited refunds that failed. Works from the
 * charge's refunds as Stripe lists them now, so any order and any number of deliveries end with
 * each refund debited once, and credited back once if it failed.
 */
@Injectable()
export class SyncRefundsService {
  constructor(
    @Inject(STRIPE) private readonly stripe: Stripe,
    private readonly owners: StripeOwnersService,
    private readonly refunds: RecordRefundService,
  ) {}

  async handle(event: Stripe.Event): Promise<EventOutcome> {
    const object = event.data.object as { object?: string };
    const chargeId =
      object.object === 'refund'
        ? idOf((await this.stripe.refunds.retrieve(eventObjectId(event))).charge)
        : eventObjectId(event);
    if (!chargeId) return ignored('refund without a charge');
    const charge = await this.stripe.charges.retrieve(chargeId);
    const paymentIntentId = idOf(charge.payment_intent);
    if (!paymentIntentId) return ignored(`${charge.id} has no PaymentIntent`);
    const intent = await this.stripe.paymentIntents.retrieve(paymentIntentId);
    const purchase = await this.owners.purchaseOf(intent);
    if (!purchase) return ignored(`no purchase of ours for ${paymentIntentId}`);
    const detail = `refunds of purchase ${purchase.id} debited`;
    const sync = await this.refunds.syncPurchase(purchase, intent, async (tx) => {
      await recordStripeEvent(tx, event, detail);
    });
    if (sync.skipped) return ignored(sync.skipped);
    const reversed = sync.reversed > 0 ? `, ${sync.reversed} failed refund(s) credited back` : '';
    return sync.debited > 0 || sync.reversed > 0
      ? handled(`${detail} (${sync.debited} new${reversed})`, sync.ranInTransaction)
      : handled(`${detail} already`);
  }
}
