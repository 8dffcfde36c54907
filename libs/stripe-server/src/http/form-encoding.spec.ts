import { StripeApiError } from '../core/api-error';
import { parseForm } from './form-encoding';

describe('parseForm', () => {
  it('decodes flat pairs, plus signs and percent escapes', () => {
    expect(parseForm('amount=1000&description=Credit+top-up%20%E2%82%AC')).toEqual({
      amount: '1000',
      description: 'Credit top-up €',
    });
  });

  it('nests bracketed keys into objects', () => {
    expect(parseForm('metadata[purchase_id]=p1&invoice_settings[default_payment_method]=pm_1')).toEqual({
      metadata: { purchase_id: 'p1' },
      invoice_settings: { default_payment_method: 'pm_1' },
    });
  });

  it('turns both expand[] and indexed expand[0] into arrays', () => {
    expect(parseForm('expand[]=customer&expand[]=latest_charge')).toEqual({
      expand: ['customer', 'latest_charge'],
    });
    expect(parseForm('expand%5B1%5D=b&expand%5B0%5D=a')).toEqual({ expand: ['a', 'b'] });
  });

  it('keeps numeric metadata keys as keys', () => {
    expect(parseForm('metadata[0]=zero&metadata[12]=twelve')).toEqual({
      metadata: { '0': 'zero', '12': 'twelve' },
    });
  });

  it('keeps an empty value, which Stripe reads as "unset"', () => {
    expect(parseForm('description=&metadata[a]=')).toEqual({ description: '', metadata: { a: '' } });
  });

  it('refuses prototype keys', () => {
    expect(() => parseForm('metadata[__proto__]=x')).toThrow(StripeApiError);
  });

  it('refuses malformed bracket names', () => {
    expect(() => parseForm('metadata[a=x')).toThrow(StripeApiError);
  });
});
