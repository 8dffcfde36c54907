import { StripeEvent } from '../core/state';
import { newId, unixNow } from '../core/ids';
import { stripeSignatureHeader } from './webhook-signature';

export interface WebhookDeliveryOptions {
  /** Where events are POSTed; undefined: events are recorded but not delivered. */
  url?: string;
  secret: string;
  /** Attempts per delivery before it is marked failed. */
  maxAttempts: number;
  /** Wait before the 2nd attempt; doubles each time up to `retryMaxMs`. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** A receiver slower than this counts as failed, as in Stripe. */
  timeoutMs: number;
  /** Deliver every event twice, so consumers prove their handlers are idempotent. */
  duplicateEveryEvent: boolean;
  log: (line: string) => void;
}

export interface DeliveryAttempt {
  at: string;
  status_code: number | null;
  error: string | null;
  duration_ms: number;
}

/** One delivery of one event (a redelivery is another record), for GET /_test/webhook_deliveries. */
export interface WebhookDeliveryRecord {
  id: string;
  event_id: string;
  event_type: string;
  object_id: string | null;
  /** Sent again on request (/_test/events/:id/redeliver or the duplicate setting). */
  redelivery: boolean;
  status: 'pending' | 'delivered' | 'failed';
  attempts: DeliveryAttempt[];
  next_attempt_at: string | null;
}

/**
 * Sends events to the webhook URL after the API response, retrying with exponential back-off.
 * Events about one object are delivered in creation order (the next waits for the previous to be
 * delivered or given up); events about different objects go out concurrently, so there is no
 * global order — consumers must not rely on one, as with Stripe.
 */
export class WebhookDelivery {
  private readonly records: WebhookDeliveryRecord[] = [];
  private readonly chains = new Map<string, Promise<void>>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly inFlight = new Set<AbortController>();
  /** Bumped by reset(): deliveries of an earlier generation stop at their next step. */
  private generation = 0;

  constructor(private readonly options: WebhookDeliveryOptions) {}

  get enabled(): boolean {
    return Boolean(this.options.url);
  }

  list(): WebhookDeliveryRecord[] {
    return this.records;
  }

  enqueue(event: StripeEvent, redelivery = false): WebhookDeliveryRecord | null {
    if (!this.options.url) return null;
    const objectId = event.data.object.id ?? null;
    const record: WebhookDeliveryRecord = {
      id: newId('whdel'),
      event_id: event.id,
      event_type: event.type,
      object_id: objectId,
      redelivery,
      status: 'pending',
      attempts: [],
      next_attempt_at: null,
    };
    this.records.push(record);
    const chainKey = objectId ?? event.id;
    const generation = this.generation;
    const previous = this.chains.get(chainKey) ?? Promise.resolve();
    const next = previous.then(() => this.deliver(record, event, generation));
    this.chains.set(chainKey, next);
    void next.finally(() => {
      if (this.chains.get(chainKey) === next) this.chains.delete(chainKey);
    });
    if (!redelivery && this.options.duplicateEveryEvent) this.enqueue(event, true);
    return record;
  }

  /** Forgets every delivery and stops the pending ones (test reset, shutdown). */
  reset(): void {
    this.generation++;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const controller of this.inFlight) controller.abort();
    this.inFlight.clear();
    this.chains.clear();
    this.records.length = 0;
  }

  private async deliver(
    record: WebhookDeliveryRecord,
    event: StripeEvent,
    generation: number,
  ): Promise<void> {
    // Yield first: the API response that caused the event is written before any delivery starts.
    await this.sleep(0);
    for (let attempt = 1; attempt <= this.options.maxAttempts; attempt++) {
      if (generation !== this.generation) return;
      const result = await this.post(event);
      if (generation !== this.generation) return;
      record.attempts.push(result);
      const ok = result.status_code !== null && result.status_code >= 200 && result.status_code < 300;
      if (ok || attempt === this.options.maxAttempts) {
        record.status = ok ? 'delivered' : 'failed';
        record.next_attempt_at = null;
        if (!record.redelivery) event.pending_webhooks = Math.max(0, event.pending_webhooks - 1);
        if (!ok)
          this.options.log(`webhook ${event.id} (${event.type}) failed after ${attempt} attempts; giving up`);
        return;
      }
      const delay = Math.min(this.options.retryBaseMs * 2 ** (attempt - 1), this.options.retryMaxMs);
      record.next_attempt_at = new Date(Date.now() + delay).toISOString();
      this.options.log(
        `webhook ${event.id} (${event.type}) attempt ${attempt} failed (${result.status_code ?? result.error}); retrying in ${delay} ms`,
      );
      await this.sleep(delay);
    }
  }

  /** One signed POST; signed again on every attempt, so a late retry is within the SDK's tolerance. */
  private async post(event: StripeEvent): Promise<DeliveryAttempt> {
    const payload = JSON.stringify(event, null, 2);
    const started = Date.now();
    const controller = new AbortController();
    this.inFlight.add(controller);
    const timeout = setTimeout(() => controller.abort(new Error('timed out')), this.options.timeoutMs);
    try {
      const response = await fetch(this.options.url!, {
        method: 'POST',
        headers: {
          'content-type': 'application/json; charset=utf-8',
          'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
          'stripe-signature': stripeSignatureHeader(payload, this.options.secret, unixNow()),
        },
        body: payload,
        // Stripe treats a redirect as a failed delivery.
        redirect: 'manual',
        signal: controller.signal,
      });
      await response.arrayBuffer().catch(() => undefined);
      return {
        at: new Date(started).toISOString(),
        status_code: response.status,
        error: null,
        duration_ms: Date.now() - started,
      };
    } catch (error) {
      const reason = controller.signal.reason instanceof Error ? controller.signal.reason.message : undefined;
      const message =
        reason ??
        (error instanceof Error
          ? ((error.cause as Error | undefined)?.message ?? error.message)
          : String(error));
      return {
        at: new Date(started).toISOString(),
        status_code: null,
        error: message,
        duration_ms: Date.now() - started,
      };
    } finally {
      clearTimeout(timeout);
      this.inFlight.delete(controller);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve();
      }, ms);
      this.timers.add(timer);
    });
  }
}
