import { ppmToPercent } from '@app/invoices';
import { formatUsd } from '@app/money';
import { purchaseChargeMicros, PurchaseRecord } from '../purchase-records';

export function purchaseView(purchase: PurchaseRecord) {
  return {
    id: purchase.id,
    kind: purchase.kind,
    /** Credits bought (what the balance gains). */
    amount: formatUsd(purchase.amount_micros),
    tax: {
      amount: formatUsd(purchase.tax_micros),
      jurisdiction: purchase.tax_jurisdiction,
      rate: ppmToPercent(purchase.tax_rate_ppm),
      exempt: purchase.tax_exempt,
    },
    /** What the card is charged: amount + tax. */
    total: formatUsd(purchaseChargeMicros(purchase)),
    currency: purchase.currency.toUpperCase(),
    status: purchase.status,
    payment_method: purchase.payment_method_id
      ? { id: purchase.payment_method_id, brand: purchase.card_brand, last4: purchase.card_last4 }
      : null,
    payment_intent_id: purchase.payment_intent_id,
    failure: purchase.failure_code
      ? {
          code: purchase.failure_code,
          decline_code: purchase.decline_code,
          message: purchase.failure_message,
        }
      : null,
    refunded: formatUsd(purchase.refunded_micros),
    created_at: purchase.created_at.toISOString(),
    succeeded_at: purchase.succeeded_at?.toISOString() ?? null,
  };
}
