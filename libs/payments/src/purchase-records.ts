import { DatabaseHandle, Tx } from '@app/db';
import { BillToSnapshot } from '@app/invoices';
import { formatUsd } from '@app/money';
import Stripe from 'stripe';
import { microsToCents } from './stripe-client';

export interface PurchaseRecord {
  id: string;
  account_id: string;
  kind: 'purchase' | 'auto_reload';
  request_key: string;
  amount_micros: bigint;
  /** Tax charged on top of amount_micros, fixed when the row was opened (libs/invoices TaxQuoteService). */
  tax_micros: bigint;
  tax_rate_ppm: number;
  tax_jurisdiction: string | null;
  tax_exempt: boolean;
  currency: string;
  status: 'pending' | 'requires_action' | 'succeeded' | 'failed' | 'canceled';
  payment_intent_id: string | null;
  charge_id: string | null;
  payment_method_id: string | null;
  card_brand: string | null;
  card_last4: string | null;
  /** The card the request chose; payment_method_id is the card that paid. Null on older rows. */
  requested_payment_method_id: string | null;
  failure_code: string | null;
  decline_code: string | null;
  failure_message: string | null;
  refunded_micros: bigint;
  created_at: Date;
  succeeded_at: Date | null;
}

export const PURCHASE_COLUMNS =
  'id, account_id, kind, request_key, amount_micros, tax_micros, tax_rate_ppm, tax_jurisdiction, tax_exempt, currency, status, payment_intent_id, charge_id, payment_method_id, ' +
  'card_brand, card_last4, requested_payment_method_id, failure_code, decline_code, failure_message, refunded_micros, created_at, succeeded_at';

/** What the card is charged: the credits plus their tax. The credits granted stay amount_micros. */
export function purchaseChargeMicros(purchase: Pick<PurchaseRecord, 'amount_micros' | 'tax_micros'>): bigint {
  return purchase.amount_micros + purchase.tax_micros;
}

/** The ledger row that credits a purchase; its uniqueness is what makes crediting happen once. */
export function purchaseLedgerKey(purchaseId: string): string {
  return `purchase:${purchaseId}`;
}

/** Stripe idempotency key of the PaymentIntent of a purchase: derived from its row, so retries reuse it. */
export function purchaseIntentKey(purchaseId: string): string {
  return `purchase-${purchaseId}`;
}

/** Stripe idempotency key of the n-th confirmation again of a purchase's PaymentIntent (n counted on the row first). */
export function purchaseConfirmKey(purchaseId: string, attempt: number): string {
  return `purchase-${purchaseId}-confirm-${attempt}`;
}

/** The bill-to of a purchase as the jsonb parameter of an insert. */
export function billToJson(sql: Tx | DatabaseHandle['sql'], snapshot: BillToSnapshot) {
  return sql.json(snapshot.billTo as unknown as Parameters<Tx['json']>[0]);
}

/** " + tax 7.250000 USD" on a taxed charge's description; nothing when untaxed. */
export function taxNote(purchase: Pick<PurchaseRecord, 'tax_micros'>): string {
  return purchase.tax_micros > 0n ? ` + tax ${formatUsd(purchase.tax_micros)} USD` : '';
}

/**
 * The PaymentIntent of a purchase or an auto-reload: its charge (credits + tax) on the row's card,
 * confirmed at once, cards only (no redirect-based methods to return from). Built from the row
 * alone, so a retry sends exactly the parameters of the first attempt (Stripe compares them under
 * the idempotency key).
 */
export function purchaseIntentParams(
  purchase: PurchaseRecord,
  customer: string,
  options: { label: 'Credits' | 'Auto-reload'; offSession?: true; metadata?: Record<string, string> },
): Stripe.PaymentIntentCreateParams {
  return {
    amount: microsToCents(purchaseChargeMicros(purchase)),
    currency: purchase.currency,
    customer,
    payment_method: purchase.payment_method_id ?? undefined,
    confirm: true,
    ...(options.offSession ? { off_session: true } : {}),
    description: `${options.label} ${formatUsd(purchase.amount_micros)} USD${taxNote(purchase)}`,
    metadata: {
      purchase_id: purchase.id,
      account_id: purchase.account_id,
      kind: purchase.kind,
      ...options.metadata,
    },
    automatic_payment_methods: { enabled: true, allow_redirects: 'never' },
  };
}
