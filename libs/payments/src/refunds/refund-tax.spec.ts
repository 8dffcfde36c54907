import { parseUsd } from '@app/money';
import Stripe from 'stripe';
import { refundCreditsMicros, refundedSoFar, splitRefund } from './refund-tax';

const usd = parseUsd;
const none = { creditsMicros: 0n, taxMicros: 0n };

describe('refund tax split', () => {
  // $100.00 of credits with $7.25 tax (CA): the card paid $107.25.
  const sut = { amount_micros: usd('100.00'), tax_micros: usd('7.25') };

  it('returns all the tax with a full refund', () => {
    expect(splitRefund(sut, none, usd('100.00'))).toEqual({
      creditsMicros: usd('100.00'),
      taxMicros: usd('7.25'),
    });
  });

  it('returns the proportional tax, rounded half up to the cent, with a partial refund', () => {
    // 7.25 x 10 / 100 = 0.725 -> 0.73
    expect(splitRefund(sut, none, usd('10.00')).taxMicros).toBe(usd('0.73'));
    // 7.25 x 10.01 / 100 = 0.725725 -> 0.73; 7.25 x 9.99 / 100 = 0.724275 -> 0.72
    expect(splitRefund(sut, none, usd('10.01')).taxMicros).toBe(usd('0.73'));
    expect(splitRefund(sut, none, usd('9.99')).taxMicros).toBe(usd('0.72'));
  });

  it('never returns more tax in total than was charged, however the refunds are cut', () => {
    let refunded = none;
    for (let i = 0; i < 10; i++) {
      const part = splitRefund(sut, refunded, usd('10.00'));
      refunded = {
        creditsMicros: refunded.creditsMicros + part.creditsMicros,
        taxMicros: refunded.taxMicros + part.taxMicros,
      };
      expect(refunded.taxMicros <= sut.tax_micros).toBe(true);
    }
    expect(refunded).toEqual({ creditsMicros: usd('100.00'), taxMicros: usd('7.25') });
  });

  it('refuses more credits than remain', () => {
    expect(() =>
      splitRefund(sut, { creditsMicros: usd('95.00'), taxMicros: usd('6.89') }, usd('5.01')),
    ).toThrow(RangeError);
  });

  it('reads the credits part of a refund from its metadata, or splits a dashboard refund proportionally', () => {
    const ours = { amount: 1073, metadata: { credits_amount: '1000' } } as unknown as Stripe.Refund;
    const dashboard = { amount: 10725, metadata: {} } as unknown as Stripe.Refund;
    expect(refundCreditsMicros(sut, ours)).toBe(usd('10.00'));
    expect(refundCreditsMicros(sut, dashboard)).toBe(usd('100.00'));
    expect(
      refundCreditsMicros({ amount_micros: usd('20.00'), tax_micros: 0n }, { amount: 500, metadata: {} }),
    ).toBe(usd('5.00'));
  });

  it('adds up earlier succeeded and pending refunds, skipping failed ones', () => {
    const refunds = [
      { amount: 1073, status: 'succeeded', metadata: { credits_amount: '1000' } },
      { amount: 1073, status: 'pending', metadata: { credits_amount: '1000' } },
      { amount: 1073, status: 'failed', metadata: { credits_amount: '1000' } },
    ] as unknown as Stripe.Refund[];
    expect(refundedSoFar(sut, refunds)).toEqual({ creditsMicros: usd('20.00'), taxMicros: usd('1.46') });
  });
});
