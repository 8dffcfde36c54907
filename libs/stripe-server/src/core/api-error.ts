/** The `error` object of a Stripe API error response (https://docs.stripe.com/api/errors). */
export interface StripeErrorBody {
  type: 'api_error' | 'card_error' | 'idempotency_error' | 'invalid_request_error';
  message: string;
  code?: string;
  decline_code?: string;
  param?: string;
  doc_url?: string;
  charge?: string;
  payment_intent?: unknown;
  setup_intent?: unknown;
  payment_method?: unknown;
  payment_method_type?: string;
}

/** Thrown by handlers; the HTTP layer turns it into `{ error }` with this status. */
export class StripeApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly body: StripeErrorBody,
  ) {
    super(body.message);
  }
}

export function docUrl(code: string): string {
  return `https://stripe.com/docs/error-codes/${code.replace(/_/g, '-')}`;
}

export function invalidRequest(
  message: string,
  options: { param?: string; code?: string; statusCode?: number } = {},
): StripeApiError {
  const { param, code, statusCode = 400 } = options;
  return new StripeApiError(statusCode, {
    type: 'invalid_request_error',
    message,
    ...(code ? { code, doc_url: docUrl(code) } : {}),
    ...(param ? { param } : {}),
  });
}

export function missingParam(param: string): StripeApiError {
  return invalidRequest(`Missing required param: ${param}.`, { param, code: 'parameter_missing' });
}

export function unknownParam(param: string): StripeApiError {
  return invalidRequest(
    `Received unknown parameter: ${param}. Did you mean to use a different parameter? (This is a Stripe-compatible test server.)`,
    { param, code: 'parameter_unknown' },
  );
}

/**
 * `No such customer: 'cus_x'`. A missing object named in the URL is a 404 (param `id`); one named
 * by a request parameter is a 400 with that parameter, as Stripe answers.
 */
export function noSuchObject(label: string, id: string, param?: string): StripeApiError {
  return invalidRequest(`No such ${label}: '${id}'`, {
    param: param ?? 'id',
    code: 'resource_missing',
    statusCode: param ? 400 : 404,
  });
}

/** A request the object's current status does not allow (e.g. confirming a succeeded PaymentIntent). */
export function unexpectedState(code: string, message: string): StripeApiError {
  return invalidRequest(message, { code });
}

export function idempotencyError(message: string): StripeApiError {
  return new StripeApiError(400, { type: 'idempotency_error', message });
}
