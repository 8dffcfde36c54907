import { FormObject } from '../http/form-encoding';
import { StripeState } from './state';

/** The API request an event came from; test helpers and automatic actions have none. */
export interface RequestInfo {
  id: string | null;
  idempotencyKey: string | null;
  apiVersion: string | null;
}

/** What a route handler gets: the state, the decoded parameters, and a way to emit events. */
export interface ApiContext {
  readonly state: StripeState;
  readonly params: FormObject;
  readonly request: RequestInfo;
  /** Where this server was reached, for URLs in responses (e.g. the 3DS test page). */
  readonly baseUrl: string;
  /** Records an event now (snapshot of `object`) and queues its webhook delivery. */
  emit(type: string, object: object, previousAttributes?: Record<string, unknown>): void;
}

/** Top-level fields whose value differs, with their old values: an event's `previous_attributes`. */
export function changedAttributes(before: object, after: object): Record<string, unknown> {
  const previous: Record<string, unknown> = {};
  const old = before as Record<string, unknown>;
  const current = after as Record<string, unknown>;
  for (const key of Object.keys(current)) {
    if (JSON.stringify(old[key]) !== JSON.stringify(current[key])) previous[key] = old[key] ?? null;
  }
  return previous;
}
