import { DATABASE, DatabaseHandle } from '@app/db';
import { ApiError } from '@app/http';
import { BillingMetrics } from '@app/metrics';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type Stripe from 'stripe';
import { FlagDisputeService } from './flag-dispute.service';
import {
  duplicate,
  EventOutcome,
  ignored,
  isStripeEventHandled,
  recordStripeEvent,
} from './stripe-event-log';
import { SyncCardsService } from './sync-cards.service';
import { SyncPaymentIntentService } from './sync-payment-intent.service';
import { SyncRefundsService } from './sync-refunds.service';

/**
 * Handles one verified Stripe event, once (I5): an event already in stripe_events is answered
 * at once; otherwise its handler re-reads the object from Stripe, acts on its current state and
 * records the event in the transaction of its effect (or, for an effect that is idempotent by
 * itself, right after it). A handler that throws records nothing, and Stripe retries.
 */
@Injectable()
export class HandleStripeEventService {
  private readonly logger = new Logger('StripeWebhooks');

  constructor(
    @Inject(DATABASE) private readonly database: DatabaseHandle,
    private readonly metrics: BillingMetrics,
    private readonly payments: SyncPaymentIntentService,
    private readonly cards: SyncCardsService,
    private readonly refunds: SyncRefundsService,
    private readonly disputes: FlagDisputeService,
  ) {}

  async handle(event: Stripe.Event): Promise<EventOutcome> {
    let outcome: EventOutcome;
    try {
      if (await isStripeEventHandled(this.database.sql, event.id)) {
        outcome = duplicate('already handled');
      } else {
        outcome = await this.dispatch(event);
        if (!outcome.recorded) await recordStripeEvent(this.database.sql, event, outcome.detail);
      }
    } catch (error) {
      this.metrics.stripeWebhooks.inc({ type: event.type, outcome: 'failed' });
      this.logger.error(
        `${event.id} (${event.type}) failed, Stripe will retry: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
      );
      // 500 whatever the cause (a Stripe 404 would otherwise pass through as 404): Stripe retries.
      throw new ApiError(500, 'webhook_failed', 'handling this event failed; it will be retried');
    }
    this.metrics.stripeWebhooks.inc({ type: event.type, outcome: outcome.kind });
    this.logger.log(`${event.id} (${event.type}) ${outcome.kind}: ${outcome.detail}`);
    return outcome;
  }

  private dispatch(event: Stripe.Event): Promise<EventOutcome> {
    const type: string = event.type;
    switch (type) {
      case 'payment_intent.succeeded':
      case 'payment_intent.payment_failed':
      case 'payment_intent.canceled':
        return this.payments.handle(event);
      case 'setup_intent.succeeded':
        return this.cards.setupSucceeded(event);
      case 'payment_method.detached':
        return this.cards.paymentMethodDetached(event);
      case 'charge.refunded':
      case 'charge.refund.updated':
      case 'refund.updated':
      case 'refund.failed':
        return this.refunds.handle(event);
      case 'charge.dispute.created':
        return this.disputes.handle(event);
      default:
        return Promise.resolve(ignored('not a type we act on'));
    }
  }
}
