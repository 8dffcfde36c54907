import { parseUsd } from '@app/money';
import Stripe from 'stripe';
import { refundCreditsByRefund, refundCreditsMicros, refundedSoFar, splitRefund } from './refund-tax';

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
      { id: 're_1', created: 1, amount: 1073, status: 'succeeded', metadata: { credits_amount: '1000' } },
      { id: 're_2', created: 2, amount: 1073, status: 'pending', metadata: { credits_amount: '1000' } },
      { id: 're_3', created: 3, amount: 1073, status: 'failed', metadata: { credits_amount: '1000' } },
    ] as unknown as Stripe.Refund[];
    expect(refundedSoFar(sut, refunds)).toEqual({ creditsMicros: usd('20.00'), taxMicros: usd('1.46') });
  });

  describe('refunds made in the Stripe dashboard, several of one taxed charge', () => {
    // $10.00 of credits with $0.83 tax: the card paid $10.83.
    const small = { amount_micros: usd('10.00'), tax_micros: usd('0.83') };
    const dashboard = (id: string, created: number, amount: number, status = 'succeeded') =>
      ({ id, created, amount, status, metadata: {} }) as unknown as Stripe.Refund;

    it('never take back more credits than were bought: the one that empties the charge takes what is left', () => {
      // Alone, 1, 6 and 1,076 cents round to 1 + 6 + 994 = 1,001 cents of credits.
      const refunds = [dashboard('re_c', 3, 1076), dashboard('re_a', 1, 1), dashboard('re_b', 2, 6)];
      expect(refundCreditsMicros(small, refunds[0])).toBe(usd('9.94'));
      const credits = refundCreditsByRefund(small, refunds);
      expect(Object.fromEntries(credits)).toEqual({
        re_a: usd('0.01'),
        re_b: usd('0.06'),
        re_c: usd('9.93'),
      });
      expect(refundedSoFar(small, refunds)).toEqual({ creditsMicros: usd('10.00'), taxMicros: usd('0.83') });
    });

    it('cap a share at the credits left even before the charge is emptied', () => {
      // A cent's share rounds to a cent: after 1,000 one-cent refunds every credit is back,
      // though 83 cents of the charge are not; the next cent takes no credits (it is tax).
      const refunds = Array.from({ length: 1001 }, (_, i) => dashboard(`re_${i}`, i, 1));
      const credits = refundCreditsByRefund(small, refunds);
      expect(credits.get('re_999')).toBe(usd('0.01'));
      expect(credits.get('re_1000')).toBe(0n);
      expect(refundedSoFar(small, refunds)).toEqual({ creditsMicros: usd('10.00'), taxMicros: usd('0.01') });
    });

    it('skip failed and canceled refunds', () => {
      const refunds = [dashboard('re_a', 1, 1083, 'failed'), dashboard('re_b', 2, 1083)];
      expect(Object.fromEntries(refundCreditsByRefund(small, refunds))).toEqual({ re_b: usd('10.00') });
    });
  });
});
