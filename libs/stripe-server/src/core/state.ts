import type Stripe from 'stripe';
import { TestCard } from '../cards/test-cards';
import { noSuchObject } from './api-error';

/** An event as Stripe stores and sends it (https://docs.stripe.com/api/events/object). */
export interface StripeEvent {
  id: string;
  object: 'event';
  api_version: string | null;
  created: number;
  data: { object: { id?: string; object?: string }; previous_attributes?: Record<string, unknown> };
  livemode: false;
  pending_webhooks: number;
  request: { id: string | null; idempotency_key: string | null };
  type: string;
}

/**
 * Everything the server knows, in memory. Maps keep insertion order, which is creation order;
 * lists are served newest first from that.
 */
export class StripeState {
  readonly customers = new Map<string, Stripe.Customer>();
  readonly deletedCustomers = new Set<string>();
  readonly paymentMethods = new Map<string, Stripe.PaymentMethod>();
  /** The test card behind each PaymentMethod: what its charges and setups do. */
  readonly cardBehaviour = new Map<string, TestCard>();
  /** PaymentMethods a SetupIntent authenticated, so off-session payments need no 3DS. */
  readonly authenticatedForOffSession = new Set<string>();
  /** Detached PaymentMethods: Stripe refuses to use or attach them again. */
  readonly consumedPaymentMethods = new Set<string>();
  readonly setupIntents = new Map<string, Stripe.SetupIntent>();
  readonly paymentIntents = new Map<string, Stripe.PaymentIntent>();
  readonly charges = new Map<string, Stripe.Charge>();
  readonly refunds = new Map<string, Stripe.Refund>();
  readonly disputes = new Map<string, Stripe.Dispute>();
  readonly events = new Map<string, StripeEvent>();

  reset(): void {
    for (const value of Object.values(this)) {
      if (value instanceof Map || value instanceof Set) value.clear();
    }
  }

  /** Any object by id, for `expand[]`. */
  find(id: string): object | undefined {
    const prefix = id.slice(0, id.indexOf('_'));
    const map: Map<string, object> | undefined = (
      {
        cus: this.customers,
        pm: this.paymentMethods,
        seti: this.setupIntents,
        pi: this.paymentIntents,
        ch: this.charges,
        re: this.refunds,
        dp: this.disputes,
        evt: this.events,
      } as Record<string, Map<string, object>>
    )[prefix];
    return map?.get(id);
  }
}

/** The object, or Stripe's resource_missing error (404 for the URL's id, 400 for a parameter). */
export function getOrThrow<T>(map: Map<string, T>, label: string, id: string, param?: string): T {
  const value = map.get(id);
  if (value === undefined) throw noSuchObject(label, id, param);
  return value;
}
