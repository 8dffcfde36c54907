import { parseUsd } from '@app/money';
import {
  graduatedDiscountMicros,
  discountPercentToPpm,
  discountPpmToPercent,
  roundToCents,
} from './volume-discount';

/** Exact: the number's decimal form parsed as a string, never multiplied as a float. */
const usd = (dollars: number) => parseUsd(String(dollars));

describe('graduatedDiscountMicros', () => {
  const tiers = [
    { fromMicros: 0n, discountPpm: 0 },
    { fromMicros: usd(10_000), discountPpm: 50_000 },
    { fromMicros: usd(50_000), discountPpm: 100_000 },
  ];

  it('discounts nothing below the first discounted tier', () => {
    expect(graduatedDiscountMicros(usd(9_999.99), tiers)).toBe(0n);
  });

  it('discounts only the slice of spend inside each tier, like tax brackets', () => {
    // 40,000 x 5 % + 10,000 x 10 % = 2,000 + 1,000
    expect(graduatedDiscountMicros(usd(60_000), tiers)).toBe(usd(3_000));
  });

  it('rounds the exact discount once, half up, to a whole cent', () => {
    const fivePercent = [{ fromMicros: 0n, discountPpm: 50_000 }];
    expect(graduatedDiscountMicros(100_000n, fivePercent)).toBe(10_000n); // 0.005 -> 0.01
    expect(graduatedDiscountMicros(99_999n, fivePercent)).toBe(0n); // 0.00499995 -> 0.00
  });

  it('does not depend on the order tiers are given in', () => {
    expect(graduatedDiscountMicros(usd(60_000), [...tiers].reverse())).toBe(usd(3_000));
  });

  it('leaves spend below a first tier that does not start at zero undiscounted', () => {
    expect(graduatedDiscountMicros(usd(150), [{ fromMicros: usd(100), discountPpm: 100_000 }])).toBe(usd(5));
  });

  it('is zero without tiers or spend', () => {
    expect(graduatedDiscountMicros(usd(100), [])).toBe(0n);
    expect(graduatedDiscountMicros(0n, tiers)).toBe(0n);
  });
});

describe('roundToCents', () => {
  it.each([
    [4_999n, 0n],
    [5_000n, 10_000n],
    [1_234_567n, 1_230_000n],
    [1_235_000n, 1_240_000n],
    [-5_000n, -10_000n],
  ])('%s micros -> %s', (input, expected) => expect(roundToCents(input)).toBe(expected));
});

describe('percent strings', () => {
  it.each([
    ['0', 0],
    ['5', 50_000],
    ['2.5', 25_000],
    ['12.3456', 123_456],
    ['100', 1_000_000],
  ])('%s %% is %s ppm and back', (percent, ppm) => {
    expect(discountPercentToPpm(percent)).toBe(ppm);
    expect(discountPpmToPercent(ppm)).toBe(percent);
  });

  it.each(['100.01', '-1', '1.23456', 'abc', ''])('refuses %j', (percent) =>
    expect(discountPercentToPpm(percent)).toBeNull(),
  );
});
