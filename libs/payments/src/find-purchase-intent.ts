import Stripe from 'stripe';
import { PurchaseRecord } from './purchase-records';

/**
 * The PaymentIntent Stripe holds for a purchase row, whether or not the row names it: an attempt
 * may have stopped, or lost Stripe's answer, between the create and recording its id. Found by the
 * purchase id in its metadata (the webhook accepts it the same way); null when Stripe has none.
 * Throws what the SDK throws when Stripe cannot be asked.
 */
export async function findPurchaseIntent(
  stripe: Stripe,
  customer: string,
  purchase: Pick<PurchaseRecord, 'id' | 'payment_intent_id' | 'created_at'>,
): Promise<Stripe.PaymentIntent | null> {
  if (purchase.payment_intent_id) return stripe.paymentIntents.retrieve(purchase.payment_intent_id);
  // Newest first; one made for this row is not older than the row (a minute for clock skew).
  const since = Math.floor(purchase.created_at.getTime() / 1000) - 60;
  for await (const intent of stripe.paymentIntents.list({ customer, limit: 100 })) {
    if (intent.created < since) break;
    if (intent.metadata?.purchase_id === purchase.id) return intent;
  }
  return null;
}
