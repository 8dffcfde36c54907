export interface PurchaseRecord {
  id: string;
  account_id: string;
  kind: 'purchase' | 'auto_reload';
  request_key: string;
  amount_micros: bigint;
  currency: string;
  status: 'pending' | 'requires_action' | 'succeeded' | 'failed' | 'canceled';
  payment_intent_id: string | null;
  charge_id: string | null;
  payment_method_id: string | null;
  card_brand: string | null;
  card_last4: string | null;
  failure_code: string | null;
  decline_code: string | null;
  failure_message: string | null;
  refunded_micros: bigint;
  created_at: Date;
  succeeded_at: Date | null;
}

export const PURCHASE_COLUMNS =
  'id, account_id, kind, request_key, amount_micros, currency, status, payment_intent_id, charge_id, payment_method_id, ' +
  'card_brand, card_last4, failure_code, decline_code, failure_message, refunded_micros, created_at, succeeded_at';

/** The ledger row that credits a purchase; its uniqueness is what makes crediting happen once. */
export function purchaseLedgerKey(purchaseId: string): string {
  return `purchase:${purchaseId}`;
}

/** Stripe idempotency key of the PaymentIntent of a purchase: derived from its row, so retries reuse it. */
export function purchaseIntentKey(purchaseId: string): string {
  return `purchase-${purchaseId}`;
}
