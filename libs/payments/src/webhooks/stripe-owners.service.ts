import { DATABASE, DatabaseHandle } from '@app/db';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type Stripe from 'stripe';
import { PURCHASE_COLUMNS, PurchaseRecord } from '../purchase-records';
import { idOf } from './stripe-event-log';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Which of our accounts a Stripe object belongs to. A webhook names objects, not accounts, so
 * every effect is tied to the account whose Stripe customer the object carries (I7).
 */
@Injectable()
export class StripeOwnersService {
  private readonly logger = new Logger(StripeOwnersService.name);

  constructor(@Inject(DATABASE) private readonly database: DatabaseHandle) {}

  async accountOfCustomer(customer: string | { id: string } | null): Promise<string | null> {
    const customerId = idOf(customer);
    if (!customerId) return null;
    const [row] = await this.database.sql<{ id: string }[]>`
      select id from accounts where stripe_customer_id = ${customerId}`;
    return row?.id ?? null;
  }

  /**
   * The purchase a PaymentIntent pays: by its id, or by the purchase id we put in its metadata
   * (the PaymentIntent may be seen before its id was stored). Null unless the PaymentIntent's
   * customer is that purchase's account's customer.
   */
  async purchaseOf(intent: Stripe.PaymentIntent): Promise<PurchaseRecord | null> {
    const { sql } = this.database;
    const metadataId = intent.metadata?.purchase_id;
    // Metadata can be edited in the dashboard: never cast a non-UUID (that would fail every retry).
    const purchaseId = metadataId && UUID.test(metadataId) ? metadataId.toLowerCase() : null;
    const [purchase] = await sql<PurchaseRecord[]>`
      select ${sql.unsafe(PURCHASE_COLUMNS)} from credit_purchases
      where payment_intent_id = ${intent.id} or (${purchaseId}::uuid is not null and id = ${purchaseId}::uuid)
      order by (payment_intent_id = ${intent.id}) desc nulls last
      limit 1`;
    if (!purchase) return null;
    if (purchase.payment_intent_id !== null && purchase.payment_intent_id !== intent.id) {
      // Credits follow the purchase's own PaymentIntent only; a second paid one was charged for nothing.
      if (intent.status === 'succeeded') {
        this.logger.error(
          `PaymentIntent ${intent.id} succeeded for purchase ${purchase.id}, which is paid by ${purchase.payment_intent_id}: refund one of them`,
        );
      }
      return null;
    }
    const owner = await this.accountOfCustomer(intent.customer);
    if (owner !== purchase.account_id) {
      this.logger.error(
        `PaymentIntent ${intent.id} names purchase ${purchase.id} of account ${purchase.account_id} but belongs to customer ${idOf(intent.customer)}; ignored`,
      );
      return null;
    }
    return purchase;
  }
}
