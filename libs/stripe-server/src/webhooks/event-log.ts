import { RequestInfo } from '../core/api-context';
import { newId, unixNow } from '../core/ids';
import { StripeEvent, StripeState } from '../core/state';
import { WebhookDelivery } from './webhook-delivery';

/** Records events (readable at GET /v1/events/:id) and hands them to webhook delivery. */
export class EventLog {
  constructor(
    private readonly state: StripeState,
    private readonly delivery: WebhookDelivery,
  ) {}

  record(
    type: string,
    object: object,
    request: RequestInfo | null,
    previousAttributes?: Record<string, unknown>,
  ): StripeEvent {
    const event: StripeEvent = {
      id: newId('evt'),
      object: 'event',
      api_version: request?.apiVersion ?? null,
      created: unixNow(),
      // A snapshot: the object as it was when the event happened, whatever changes later.
      data: {
        object: structuredClone(object),
        ...(previousAttributes ? { previous_attributes: structuredClone(previousAttributes) } : {}),
      },
      livemode: false,
      pending_webhooks: this.delivery.enabled ? 1 : 0,
      request: { id: request?.id ?? null, idempotency_key: request?.idempotencyKey ?? null },
      type,
    };
    this.state.events.set(event.id, event);
    this.delivery.enqueue(event);
    return event;
  }
}
