import { ApiError } from '@app/http';
import { exportRangeQuery, rangeFileTag } from './export-range';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return error instanceof ApiError ? error.code : 'not an ApiError';
  }
  return undefined;
}

describe('exportRangeQuery', () => {
  const now = new Date('2026-06-15T12:00:00Z');

  it('reads dates as 00:00 UTC and date-times with their offset', () => {
    expect(exportRangeQuery('2026-01-01', '2026-02-01T02:00:00+02:00', now)).toEqual({
      from: new Date('2026-01-01T00:00:00Z'),
      to: new Date('2026-02-01T00:00:00Z'),
    });
  });

  it('keeps fractional seconds', () => {
    expect(exportRangeQuery('2026-01-01T00:00:00.250Z', '2026-01-02', now).from.getTime()).toBe(
      Date.parse('2026-01-01T00:00:00.250Z'),
    );
  });

  it('defaults to the 30 days before now', () => {
    expect(exportRangeQuery(undefined, undefined, now)).toEqual({
      from: new Date('2026-05-16T12:00:00Z'),
      to: now,
    });
  });

  it('allows a whole leap year and no more', () => {
    expect(codeOf(() => exportRangeQuery('2028-01-01', '2029-01-01', now))).toBeUndefined();
    expect(codeOf(() => exportRangeQuery('2028-01-01', '2029-01-02', now))).toBe('range_too_long');
  });

  it.each([
    ['not a date', '2026-01-01', 'validation_failed'],
    ['2026-02-30', '2026-03-01', 'validation_failed'],
    ['2026-01-01', '1767225600', 'validation_failed'],
    ['2026-01-01T00:00:00', '2026-01-02', 'validation_failed'],
    ['2026-02-30T00:00:00Z', '2026-03-05', 'validation_failed'],
    ['2026-02-01', '2026-02-29T00:00:00Z', 'validation_failed'],
    ['2026-01-01T24:00:00Z', '2026-01-05', 'validation_failed'],
    ['2026-01-01T23:60:00Z', '2026-01-05', 'validation_failed'],
    ['2026-01-01t00:00:00Z', '2026-01-05', 'validation_failed'],
    ['2026-01-01T00:00:00z', '2026-01-05', 'validation_failed'],
    ['2026-01-01T00:00Z', '2026-01-05', 'validation_failed'],
    ['2026-01-01 00:00:00Z', '2026-01-05', 'validation_failed'],
    ['0000-12-31', '2026-01-05', 'validation_failed'],
    ['2026-02-01', '2026-02-01', 'invalid_range'],
    ['2026-02-02', '2026-02-01', 'invalid_range'],
  ])('refuses from=%s to=%s with %s', (from, to, code) => {
    expect(codeOf(() => exportRangeQuery(from, to, now))).toBe(code);
  });

  it('reads a leap day that exists, as a date and as a date-time', () => {
    expect(exportRangeQuery('2028-02-29', '2028-02-29T12:00:00Z', now)).toEqual({
      from: new Date('2028-02-29T00:00:00Z'),
      to: new Date('2028-02-29T12:00:00Z'),
    });
  });

  it('says what an instant must look like', () => {
    let refused: unknown;
    try {
      exportRangeQuery('2026-02-30T00:00:00Z', undefined, now);
    } catch (error) {
      refused = error instanceof ApiError ? { status: error.getStatus(), body: error.getResponse() } : error;
    }
    expect(refused).toEqual({
      status: 422,
      body: {
        error: {
          code: 'validation_failed',
          message: expect.stringMatching(
            /^from must be a date YYYY-MM-DD or an RFC 3339 date-time with a time zone/,
          ),
        },
      },
    });
  });

  it('names files by the dates of the range', () => {
    expect(rangeFileTag(exportRangeQuery('2026-01-01', '2026-02-01', now))).toBe('2026-01-01_2026-02-01');
  });
});
