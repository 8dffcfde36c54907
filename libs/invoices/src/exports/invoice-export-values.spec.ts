import { ApiError } from '@app/http';
import { invoiceExportDates } from './invoice-export-range';
import { invoiceExportIdFor } from './invoice-exports.service';
import { formatInvoiceAmount, formatTaxRatePercent } from './invoices-csv-export.service';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return error instanceof ApiError ? error.code : 'not an ApiError';
  }
  return undefined;
}

describe('invoice CSV values', () => {
  it.each([
    [0n, '0.00'],
    [10_000n, '0.01'],
    [12_340_000n, '12.34'],
    [1_000_000_000n, '1000.00'],
    [-2_500_000n, '-2.50'],
  ])('prints %s micros as %s', (micros, text) => {
    expect(formatInvoiceAmount(micros)).toBe(text);
  });

  it('keeps every micro of an amount that is not whole cents rather than rounding it away', () => {
    expect(formatInvoiceAmount(12_345_678n)).toBe('12.345678');
  });

  it.each([
    [0, '0.0000'],
    [72_500, '7.2500'],
    [190_000, '19.0000'],
    [88_750, '8.8750'],
  ])('prints a tax rate of %s ppm as %s %%', (ppm, text) => {
    expect(formatTaxRatePercent(ppm)).toBe(text);
  });
});

describe('invoiceExportIdFor', () => {
  const account = '9b2f7c2e-8a53-4a0e-9f57-0f5f5e1b8a11';

  it('is the same UUID for the same account and key', () => {
    expect(invoiceExportIdFor(account, 'k1')).toBe(invoiceExportIdFor(account, 'k1'));
    expect(invoiceExportIdFor(account, 'k1')).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
  });

  it('differs by key and by account', () => {
    expect(invoiceExportIdFor(account, 'k2')).not.toBe(invoiceExportIdFor(account, 'k1'));
    expect(invoiceExportIdFor('1f0c1d9e-0000-4000-8000-000000000000', 'k1')).not.toBe(
      invoiceExportIdFor(account, 'k1'),
    );
  });
});

describe('invoiceExportDates', () => {
  it('takes both days inclusive, up to 366 of them', () => {
    expect(invoiceExportDates('2026-03-01', '2026-03-01')).toEqual({ from: '2026-03-01', to: '2026-03-01' });
    expect(codeOf(() => invoiceExportDates('2028-01-01', '2028-12-31'))).toBeUndefined();
    expect(codeOf(() => invoiceExportDates('2026-01-01', '2027-01-01'))).toBeUndefined();
    expect(codeOf(() => invoiceExportDates('2026-01-01', '2027-01-02'))).toBe('range_too_long');
  });

  it.each([
    ['2026-03-02', '2026-03-01', 'invalid_range'],
    ['2026-02-29', '2026-03-01', 'validation_failed'],
    ['2026-3-1', '2026-03-31', 'validation_failed'],
    ['2026-03-01T00:00:00Z', '2026-03-31', 'validation_failed'],
    ['2026-04-31', '2026-05-01', 'validation_failed'],
    ['0000-12-31', '2026-01-01', 'validation_failed'],
  ])('refuses from=%s to=%s with %s', (from, to, code) => {
    expect(codeOf(() => invoiceExportDates(from, to))).toBe(code);
  });
});
