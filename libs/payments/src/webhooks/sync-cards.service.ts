import { SYSTEM_ACTOR } from '@app/audit';
import { DATABASE, DatabaseHandle } from '@app/db';
import { ApiError } from '@app/http';
import { Inject, Injectable } from '@nestjs/common';
import Stripe from 'stripe';
import { RetryAutoReloadService } from '../auto-reload/retry-auto-reload.service';
import { currentPaymentMethod } from '../current-payment-method';
import { PaymentMethodsService } from '../payment-methods.service';
import { STRIPE } from '../stripe-client';
import { eventObjectId, EventOutcome, handled, idOf, ignored } from './stripe-event-log';
import { StripeOwnersService } from './stripe-owners.service';

/** setup_intent.succeeded and payment_method.detached: our card list follows Stripe's. */
@Injectable()
export class SyncCardsService {
  constructor(
    @Inject(STRIPE) private readonly stripe: Stripe,
    @Inject(DATABASE) private readonly database: DatabaseHandle,
    private readonly owners: StripeOwnersService,
    private readonly cards: PaymentMethodsService,
    private readonly reloadRetries: RetryAutoReloadService,
  ) {}

  /**
   * Saves the card of a SetupIntent the client confirmed but never reported to us (closed tab).
   * Recording a card is idempotent (keyed by the PaymentMethod id), so it is not in the event's
   * transaction: a crash in between makes the redelivery find the card already there.
   */
  async setupSucceeded(event: Stripe.Event): Promise<EventOutcome> {
    const intent = await this.stripe.setupIntents.retrieve(eventObjectId(event));
    const paymentMethodId = idOf(intent.payment_method);
    if (intent.status !== 'succeeded' || !paymentMethodId) return ignored(`${intent.id} is ${intent.status}`);
    const accountId = await this.owners.accountOfCustomer(intent.customer);
    if (!accountId) return ignored(`${intent.id}: no account has customer ${idOf(intent.customer)}`);
    const method = await currentPaymentMethod(this.stripe, paymentMethodId);
    // Removed since (by the account or in Stripe): saving it now would resurrect it.
    if (!method || idOf(method.customer) !== idOf(intent.customer)) {
      return ignored(`${paymentMethodId} is no longer attached`);
    }
    try {
      const card = await this.cards.record(accountId, method, SYSTEM_ACTOR);
      return handled(`card ${card.id} of account ${accountId}`);
    } catch (error) {
      // E.g. not a card: retrying would never change that.
      if (error instanceof ApiError && error.getStatus() < 500) return ignored(`${method.id}: ${error.code}`);
      throw error;
    }
  }

  /**
   * A card detached in Stripe (dashboard, or our own DELETE) leaves the account's list. A detached
   * default makes the newest remaining card the default, which may be the fix a failed auto-reload
   * waits for, as after remove(): without a retry the balance stays below the threshold, where no
   * deduction crosses again. The event is recorded after that retry, not with the detach: a retry
   * that throws leaves the event to Stripe's redelivery, which finds the card already detached and
   * retries from the promotion's audit row (afterFix is safe to repeat: one retry per failed crossing).
   */
  async paymentMethodDetached(event: Stripe.Event): Promise<EventOutcome> {
    const paymentMethodId = eventObjectId(event);
    const method = await currentPaymentMethod(this.stripe, paymentMethodId);
    if (method?.customer) return ignored(`${paymentMethodId} is attached again`);
    const [row] = await this.database.sql<{ account_id: string }[]>`
      select account_id from payment_methods where id = ${paymentMethodId}`;
    if (!row) return ignored(`${paymentMethodId} is not a saved card`);
    const detail = `card ${paymentMethodId} of account ${row.account_id} detached`;
    const removed = await this.cards.markDetached(row.account_id, paymentMethodId, SYSTEM_ACTOR);
    if (await this.cards.promotedOnDetach(row.account_id, paymentMethodId)) {
      await this.reloadRetries.afterFix(row.account_id);
    }
    return handled(removed ? detail : `${detail} already`);
  }
}
