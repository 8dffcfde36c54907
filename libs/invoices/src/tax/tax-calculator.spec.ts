import { parseUsd } from '@app/money';
import { join } from 'node:path';
import { TaxCalculator, taxOnSubtotal } from './tax-calculator';
import { TaxRateTable } from './tax-rate-table';
import { percentToPpm, ppmToPercent } from './tax-rate';

const usd = parseUsd;
const DATA = join(__dirname, '..', '..', '..', '..', 'data', 'tax');

describe('TaxCalculator', () => {
  const rates = TaxRateTable.load(join(DATA, 'us-states.json'), join(DATA, 'countries.json'), 'DE:19,XK:8.5');
  const sut = new TaxCalculator(rates);
  const taxed = (country: string | null, region: string | null, subtotal: string, exempt = false) =>
    sut.calculate({ country, region, exempt, subtotalMicros: usd(subtotal) });

  it('taxes a U.S. address at its state rate, naming the state', () => {
    expect(taxed('US', 'CA', '100.00')).toEqual({
      jurisdiction: 'US-CA',
      ratePpm: 72500,
      exempt: false,
      taxMicros: usd('7.25'),
    });
    expect(taxed('US', 'NY', '100.00')).toEqual({
      jurisdiction: 'US-NY',
      ratePpm: 40000,
      exempt: false,
      taxMicros: usd('4.00'),
    });
    expect(taxed('us', 'tx', '100.00')).toMatchObject({
      jurisdiction: 'US-TX',
      ratePpm: 62500,
      taxMicros: usd('6.25'),
    });
  });

  it('charges nothing in a state without sales tax but still names it', () => {
    expect(taxed('US', 'OR', '100.00')).toEqual({
      jurisdiction: 'US-OR',
      ratePpm: 0,
      exempt: false,
      taxMicros: 0n,
    });
  });

  it('taxes another country at its configured rate', () => {
    expect(taxed('DE', 'Berlin', '50.00')).toEqual({
      jurisdiction: 'DE',
      ratePpm: 190000,
      exempt: false,
      taxMicros: usd('9.50'),
    });
    expect(taxed('XK', null, '10.00')).toMatchObject({
      jurisdiction: 'XK',
      ratePpm: 85000,
      taxMicros: usd('0.85'),
    });
  });

  it('does not tax an account without an address, an unconfigured country or a U.S. address without a state', () => {
    const none = { jurisdiction: null, ratePpm: 0, exempt: false, taxMicros: 0n };
    expect(taxed(null, null, '100.00')).toEqual(none);
    expect(taxed('BR', 'SP', '100.00')).toEqual(none);
    expect(taxed('US', null, '100.00')).toEqual(none);
    expect(taxed('US', 'ZZ', '100.00')).toEqual(none);
  });

  it('keeps the jurisdiction of an exempt account and charges no tax', () => {
    expect(taxed('US', 'CA', '100.00', true)).toEqual({
      jurisdiction: 'US-CA',
      ratePpm: 0,
      exempt: true,
      taxMicros: 0n,
    });
  });

  it('rounds exactly half a cent up', () => {
    // 10.00 x 6.25 % = 0.625 -> 0.63; 10.00 x 7.25 % = 0.725 -> 0.73
    expect(taxed('US', 'TX', '10.00').taxMicros).toBe(usd('0.63'));
    expect(taxed('US', 'CA', '10.00').taxMicros).toBe(usd('0.73'));
  });

  it('rounds just below half a cent down and just above up', () => {
    // 9.99 x 6.25 % = 0.624375 -> 0.62; 10.01 x 6.25 % = 0.625625 -> 0.63
    expect(taxed('US', 'TX', '9.99').taxMicros).toBe(usd('0.62'));
    expect(taxed('US', 'TX', '10.01').taxMicros).toBe(usd('0.63'));
  });

  it('stays exact for the largest purchases (integer math, no float drift)', () => {
    // 25,000.01 x 6.875 % = 1718.750687... -> 1718.75
    expect(taxed('US', 'MN', '25000.01').taxMicros).toBe(usd('1718.75'));
    // 999,999,999.99 x 7.25 % = 72,499,999.999275 -> 72,500,000.00 (a double would already be off here)
    expect(taxOnSubtotal(999_999_999_990_000n, 72_500)).toBe(72_500_000_000_000n);
  });

  it('refuses a negative subtotal', () => {
    expect(() => taxOnSubtotal(-10_000n, 72_500)).toThrow(RangeError);
  });
});

describe('TaxRateTable', () => {
  it('knows every state and DC from the data file', () => {
    const sut = TaxRateTable.load(join(DATA, 'us-states.json'), join(DATA, 'countries.json'), '');
    expect(sut.usStateCount).toBe(51);
    expect(sut.isUsState('DC')).toBe(true);
  });

  it('lets TAX_COUNTRY_RATES override the file', () => {
    const sut = TaxRateTable.load(join(DATA, 'us-states.json'), join(DATA, 'countries.json'), 'GB:17.5');
    expect(sut.countryRate('GB', new Date())).toBe(175000);
  });

  it('applies a dated rate from its effective day', () => {
    const sut = new TaxRateTable(
      [
        { state: 'CA', name: 'California', rate: '7.25', effective: '2020-01-01' },
        { state: 'CA', name: 'California', rate: '7.5', effective: '2030-01-01' },
      ],
      [],
    );
    expect(sut.usStateRate('CA', new Date('2029-12-31T23:59:59Z'))).toBe(72500);
    expect(sut.usStateRate('CA', new Date('2030-01-01T00:00:00Z'))).toBe(75000);
    expect(sut.usStateRate('CA', new Date('2019-06-01T00:00:00Z'))).toBeNull();
  });

  it('refuses a malformed rate with its entry', () => {
    expect(
      () =>
        new TaxRateTable([{ state: 'CA', name: 'California', rate: '7,25', effective: '2020-01-01' }], []),
    ).toThrow(/not a tax rate/);
  });
});

describe('percent and ppm', () => {
  it('convert exactly both ways', () => {
    expect(percentToPpm('7.25')).toBe(72500);
    expect(percentToPpm('6.875')).toBe(68750);
    expect(percentToPpm('0')).toBe(0);
    expect(percentToPpm('19')).toBe(190000);
    expect(ppmToPercent(72500)).toBe('7.25');
    expect(ppmToPercent(68750)).toBe('6.875');
    expect(ppmToPercent(0)).toBe('0');
    expect(ppmToPercent(190000)).toBe('19');
  });
});
