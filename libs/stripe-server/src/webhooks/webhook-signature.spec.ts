import Stripe from 'stripe';
import { stripeSignatureHeader } from './webhook-signature';

describe('stripeSignatureHeader', () => {
  const secret = 'whsec_unit_test_secret';
  const payload = JSON.stringify({ id: 'evt_1', object: 'event', type: 'payment_intent.succeeded' }, null, 2);
  const sut = new Stripe('sk_test_unit', { telemetry: false });

  it('is accepted by the official SDK', () => {
    const header = stripeSignatureHeader(payload, secret, Math.floor(Date.now() / 1000));
    expect(sut.webhooks.constructEvent(payload, header, secret).id).toBe('evt_1');
  });

  it('is refused by the SDK for another secret', () => {
    const header = stripeSignatureHeader(payload, secret, Math.floor(Date.now() / 1000));
    expect(() => sut.webhooks.constructEvent(payload, header, 'whsec_other')).toThrow(
      Stripe.errors.StripeSignatureVerificationError,
    );
  });

  it('matches the header the SDK generates for tests', () => {
    const timestamp = 1_700_000_000;
    const expected = sut.webhooks.generateTestHeaderString({ payload, secret, timestamp });
    expect(stripeSignatureHeader(payload, secret, timestamp)).toBe(expected);
  });
});
