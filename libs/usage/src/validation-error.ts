/** One problem with one event of an ingest request; index is null for request-level problems. */
export interface EventError {
  index: number | null;
  field: string;
  code: string;
  message: string;
}

/** An ingest request with at least one invalid event: nothing of it is accepted (I6). */
export class UsageValidationError extends Error {
  constructor(readonly errors: EventError[]) {
    super(`${errors.length} invalid event field(s)`);
  }
}
