import { DATABASE, DatabaseHandle } from '@app/db';
import { Inject, Injectable } from '@nestjs/common';
import Stripe from 'stripe';
import { PurchaseRecord } from './purchase-records';
import { STRIPE } from './stripe-client';

/** The card that paid a PaymentIntent: Stripe's PaymentMethod id, brand and last4 (never more). */
export interface PaidCard {
  paymentMethodId: string;
  brand: string | null;
  last4: string | null;
}

function idOf(value: string | { id: string } | null | undefined): string | null {
  if (!value) return null;
  return typeof value === 'string' ? value : value.id;
}

/**
 * Which card paid a succeeded PaymentIntent. It is not always the one the purchase was opened
 * with: after a failed 3-D Secure (or an auto-reload that needed authentication) the card holder
 * may confirm the same PaymentIntent in Stripe.js with another card, and the purchase, its
 * invoice and its PDF must name the card that was charged (F6, F8).
 */
@Injectable()
export class PaidCardService {
  constructor(
    @Inject(DATABASE) private readonly database: DatabaseHandle,
    @Inject(STRIPE) private readonly stripe: Stripe,
  ) {}

  /** The paying card when it differs from the purchase's; null when it is the same (or Stripe names none). */
  async changedCard(purchase: PurchaseRecord, intent: Stripe.PaymentIntent): Promise<PaidCard | null> {
    const charge = typeof intent.latest_charge === 'object' ? intent.latest_charge : null;
    const paymentMethodId = idOf(intent.payment_method) ?? idOf(charge?.payment_method);
    if (!paymentMethodId || paymentMethodId === purchase.payment_method_id) return null;
    // A saved card of this account: what we show for it everywhere else (I7: never another account's row).
    const [saved] = await this.database.sql<{ brand: string; last4: string }[]>`
      select brand, last4 from payment_methods where id = ${paymentMethodId} and account_id = ${purchase.account_id}`;
    if (saved) return { paymentMethodId, brand: saved.brand, last4: saved.last4 };
    return { paymentMethodId, ...(await this.cardFromStripe(intent, paymentMethodId)) };
  }

  /** A card entered only in Stripe.js: the charge's payment_method_details, else the PaymentMethod. */
  private async cardFromStripe(
    intent: Stripe.PaymentIntent,
    paymentMethodId: string,
  ): Promise<{ brand: string | null; last4: string | null }> {
    const chargeId = idOf(intent.latest_charge);
    const charge =
      typeof intent.latest_charge === 'object' && intent.latest_charge
        ? intent.latest_charge
        : chargeId
          ? await this.stripe.charges.retrieve(chargeId)
          : null;
    const details = charge?.payment_method_details?.card;
    if (details && charge?.payment_method === paymentMethodId) {
      return { brand: details.brand ?? null, last4: details.last4 ?? null };
    }
    const paymentMethod = await this.stripe.paymentMethods.retrieve(paymentMethodId);
    return { brand: paymentMethod.card?.brand ?? null, last4: paymentMethod.card?.last4 ?? null };
  }
}
