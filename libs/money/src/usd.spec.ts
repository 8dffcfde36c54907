import { formatUsd, MoneyFormatError, parseUsd } from './usd';

describe('parseUsd', () => {
  it.each([
    ['0.000150', 150n],
    ['12.5', 12_500_000n],
    ['25000', 25_000_000_000n],
    ['-1.000001', -1_000_001n],
    ['0', 0n],
  ])('parses %s into %s micros', (input, micros) => {
    expect(parseUsd(input)).toBe(micros);
  });

  it.each([['1.0000001'], ['1e3'], ['.5'], ['abc'], [''], ['1,5'], [' 1']])('rejects %j', (input) => {
    expect(() => parseUsd(input)).toThrow(MoneyFormatError);
  });

  it('rejects numbers so that floats never become money', () => {
    expect(() => parseUsd(0.1)).toThrow(MoneyFormatError);
  });
});

describe('formatUsd', () => {
  it.each([
    [150n, '0.000150'],
    [12_500_000n, '12.500000'],
    [-1_000_001n, '-1.000001'],
    [0n, '0.000000'],
  ])('formats %s micros as %s', (micros, text) => {
    expect(formatUsd(micros)).toBe(text);
  });

  it('round-trips every value it formats', () => {
    for (const micros of [1n, 999_999n, 1_000_000n, 123_456_789_012n]) {
      expect(parseUsd(formatUsd(micros))).toBe(micros);
    }
  });
});
