import { ApiError } from '@app/http';
import { CallHandler, ExecutionContext, Injectable, NestInterceptor } from '@nestjs/common';
import { catchError, Observable } from 'rxjs';
import Stripe from 'stripe';

/** Seconds a client should wait before retrying when Stripe is down or limits us (the SDK has retried already). */
const PROVIDER_RETRY_AFTER_SECONDS = '30';

/**
 * A Stripe failure as our answer. Stripe's message is never passed on, nor logged: for a refused
 * key it names part of our secret key ("Invalid API Key provided: sk_live_****1234"), and its
 * status (401 for our key, 404 for our customer id) would tell the client that its own request
 * was wrong. Returns null for Stripe errors that are our own bugs (an unknown parameter, a
 * customer id Stripe does not know): those stay unexpected, a logged 500.
 */
export function apiErrorForStripe(error: Stripe.errors.StripeError): ApiError | null {
  const what = describeStripeError(error);
  if (
    error instanceof Stripe.errors.StripeAuthenticationError ||
    error instanceof Stripe.errors.StripePermissionError
  ) {
    // Not the client's token: ours (rotated, revoked, or missing a permission). An operator must act.
    return new ApiError(
      503,
      'payment_provider_unavailable',
      'payments are unavailable at the moment; try again later with the same Idempotency-Key',
      {},
      {},
      `${what}: Stripe refused STRIPE_SECRET_KEY (revoked, rotated or lacking a permission)`,
    );
  }
  if (
    error instanceof Stripe.errors.StripeRateLimitError ||
    error instanceof Stripe.errors.StripeAPIError ||
    error instanceof Stripe.errors.StripeConnectionError ||
    (error.statusCode ?? 0) >= 500
  ) {
    return new ApiError(
      503,
      'payment_provider_unavailable',
      'the payment provider could not be reached; try again later with the same Idempotency-Key',
      {},
      { 'retry-after': PROVIDER_RETRY_AFTER_SECONDS },
      `${what}: Stripe unavailable or limiting requests`,
    );
  }
  if (error instanceof Stripe.errors.StripeCardError) {
    return new ApiError(402, error.code ?? 'card_declined', 'the card was declined', {
      decline_code: error.decline_code ?? null,
    });
  }
  if (error instanceof Stripe.errors.StripeInvalidRequestError && concernsPaymentMethod(error)) {
    // The saved card is gone or unusable in Stripe (detached there, expired) before we heard of it.
    return new ApiError(
      422,
      'payment_method_unusable',
      'the card cannot be charged; add a card or choose another with payment_method_id',
    );
  }
  return null;
}

function concernsPaymentMethod(error: Stripe.errors.StripeInvalidRequestError): boolean {
  return error.param === 'payment_method' || (error.code ?? '').startsWith('payment_method_');
}

/** What a log may say about a Stripe error: its kind and ids, never its message. */
export function describeStripeError(error: Stripe.errors.StripeError): string {
  return [
    `Stripe ${error.type}`,
    error.code && `code ${error.code}`,
    error.statusCode && `HTTP ${error.statusCode}`,
    error.requestId && `request ${error.requestId}`,
  ]
    .filter(Boolean)
    .join(', ');
}

/** Turns Stripe errors thrown by any route into our answers (apiErrorForStripe); others pass untouched. */
@Injectable()
export class StripeErrorsInterceptor implements NestInterceptor {
  intercept(_context: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle().pipe(
      catchError((error: unknown) => {
        throw (error instanceof Stripe.errors.StripeError && apiErrorForStripe(error)) || error;
      }),
    );
  }
}
