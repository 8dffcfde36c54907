import { formatRatePercent } from './invoice-view';

describe('formatRatePercent', () => {
  it.each([
    [0, '0'],
    [72_500, '7.25'],
    [88_750, '8.875'],
    [190_000, '19'],
    [1, '0.0001'],
    [1_000_000, '100'],
  ])('shows %i ppm as %s %%', (ppm, text) => {
    expect(formatRatePercent(ppm)).toBe(text);
  });
});
