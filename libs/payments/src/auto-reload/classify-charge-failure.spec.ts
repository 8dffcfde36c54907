import Stripe from 'stripe';
import { classifyChargeError, classifyLastPaymentError } from './classify-charge-failure';

const cardError = (code: string, declineCode?: string) =>
  new Stripe.errors.StripeCardError({
    type: 'card_error',
    code,
    decline_code: declineCode,
    message: 'Your card was declined.',
  });

describe('classifyChargeError', () => {
  it.each([
    ['card_declined', 'insufficient_funds', 'hard'],
    ['card_declined', 'generic_decline', 'hard'],
    ['expired_card', 'expired_card', 'hard'],
    ['incorrect_cvc', 'incorrect_cvc', 'hard'],
    ['card_declined', 'lost_card', 'hard'],
    ['card_declined', 'do_not_try_again', 'hard'],
    ['processing_error', 'processing_error', 'soft'],
    ['card_declined', 'try_again_later', 'soft'],
    ['card_declined', 'issuer_not_available', 'soft'],
    ['authentication_required', 'authentication_required', 'authentication'],
  ])('classifies %s / %s as %s', (code, declineCode, kind) => {
    expect(classifyChargeError(cardError(code, declineCode))).toMatchObject({ kind, code, declineCode });
  });

  it('treats Stripe being unreachable, overloaded or failing as transient', () => {
    const errors = [
      new Stripe.errors.StripeConnectionError({ message: 'socket hang up' }),
      new Stripe.errors.StripeRateLimitError({ message: 'slow down', code: 'rate_limit' }),
      new Stripe.errors.StripeAPIError({ message: 'oops', statusCode: 500 }),
    ];
    expect(errors.map((error) => classifyChargeError(error)?.kind)).toEqual([
      'transient',
      'transient',
      'transient',
    ]);
  });

  it('treats an invalid request (a card detached meanwhile) as hard', () => {
    const sut = new Stripe.errors.StripeInvalidRequestError({
      message: 'No such PaymentMethod',
      code: 'resource_missing',
    });
    expect(classifyChargeError(sut)).toMatchObject({ kind: 'hard', code: 'resource_missing' });
  });

  it('leaves errors that are not Stripe errors to the caller', () => {
    expect(classifyChargeError(new Error('connection to Postgres lost'))).toBeNull();
  });
});

describe('classifyLastPaymentError', () => {
  it('classifies the error an earlier attempt left on the PaymentIntent', () => {
    const intent = (code: string, declineCode: string) =>
      ({
        id: 'pi_1',
        status: 'requires_payment_method',
        last_payment_error: { type: 'card_error', code, decline_code: declineCode },
      }) as unknown as Stripe.PaymentIntent;
    expect(
      [
        intent('card_declined', 'insufficient_funds'),
        intent('processing_error', 'processing_error'),
        intent('authentication_required', 'authentication_required'),
      ].map((sut) => classifyLastPaymentError(sut).kind),
    ).toEqual(['hard', 'soft', 'authentication']);
  });
});
