import { parseCheckedDateTime, parseRfc3339DateTime } from './rfc3339';

/** A date-time names a real instant when its fields survive a round trip through Date.UTC. */
function realInstant(year: number, month: number, day: number, time: [number, number, number]): boolean {
  const at = new Date(Date.UTC(year, month - 1, day, ...time));
  return (
    at.getUTCFullYear() === year &&
    at.getUTCMonth() === month - 1 &&
    at.getUTCDate() === day &&
    at.getUTCHours() === time[0] &&
    at.getUTCMinutes() === time[1] &&
    at.getUTCSeconds() === time[2]
  );
}

const two = (value: number) => String(value).padStart(2, '0');

describe('parseCheckedDateTime', () => {
  it('accepts exactly the real calendar days and times, leap years included (1900 no, 2000 yes, 2100 no)', () => {
    const wrong: string[] = [];
    for (let year = 1899; year <= 2101; year++)
      for (let month = 0; month <= 13; month++)
        for (let day = 0; day <= 32; day++)
          for (const time of [
            [0, 0, 0],
            [23, 59, 59],
            [24, 0, 0],
            [12, 60, 0],
            [12, 0, 60],
          ] as [number, number, number][]) {
            const text = `${year}-${two(month)}-${two(day)}T${time.map(two).join(':')}Z`;
            const expected = realInstant(year, month, day, time) ? Date.parse(text) : NaN;
            if (!Object.is(parseCheckedDateTime(text), expected)) wrong.push(text);
          }
    expect(wrong).toEqual([]);
  });

  it.each([
    ['2026-12-03T10:00:00Z', Date.UTC(2026, 11, 3, 10)],
    ['2026-12-03T10:00:00.123456789+05:30', Date.UTC(2026, 11, 3, 4, 30, 0, 123)],
    ['2024-02-29T23:59:59-08:00', Date.UTC(2024, 2, 1, 7, 59, 59)],
  ])('reads %s with its fraction and offset', (text, epochMs) => {
    expect(parseCheckedDateTime(text)).toBe(epochMs);
  });
});

describe('parseRfc3339DateTime', () => {
  it.each([
    '2026-12-03',
    'March 7 2026',
    '2026-12-03T10:00Z',
    '2026-12-03 10:00:00Z',
    '2026-12-03T10:00:00',
    '2026-12-03t10:00:00z',
    ' 2026-12-03T10:00:00Z',
  ])('reads no instant in %j', (text) => {
    expect(parseRfc3339DateTime(text)).toBeNaN();
  });

  it('refuses a day the calendar does not have and reads a real one', () => {
    expect(parseRfc3339DateTime('2026-02-30T00:00:00Z')).toBeNaN();
    expect(parseRfc3339DateTime('2026-02-28T23:00:00-01:00')).toBe(Date.UTC(2026, 2, 1));
  });
});
