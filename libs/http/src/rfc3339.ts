/**
 * An RFC 3339 date-time: seconds, an optional fraction of up to 9 digits and a time zone (Z or
 * ±HH:MM), upper-case T and Z as ingest's schema takes them. No bare dates, no other formats
 * Date.parse happens to read ("March 7 2026", "2026-03-07 10:00").
 */
export const RFC3339_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

/** Epoch ms of an RFC 3339 date-time (RFC3339_DATE_TIME), NaN for any other text or no real instant. */
export function parseRfc3339DateTime(text: string): number {
  return RFC3339_DATE_TIME.test(text) ? parseCheckedDateTime(text) : Number.NaN;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * Epoch ms of text already known to match RFC3339_DATE_TIME, NaN if it names no real instant.
 * Date.parse alone rolls impossible values over (2026-02-30 becomes March 2, T24:00 the next
 * day), which would bill usage on a day the gateway never sent. The fields are read at fixed
 * positions: once per event, this is on ingest's hot path (a regex and a Date for the calendar
 * cost 4-5 times as much).
 */
export function parseCheckedDateTime(text: string): number {
  const year = digitsAt(text, 0, 4);
  const month = digitsAt(text, 5, 2);
  const day = digitsAt(text, 8, 2);
  if (month < 1 || month > 12 || day < 1) return NaN;
  const leapDay = month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 1 : 0;
  if (day > DAYS_IN_MONTH[month - 1] + leapDay) return NaN;
  if (digitsAt(text, 11, 2) > 23 || digitsAt(text, 14, 2) > 59 || digitsAt(text, 17, 2) > 59) return NaN;
  return Date.parse(text);
}

/** The decimal number of `length` ASCII digits at `from` (the pattern guarantees they are digits). */
function digitsAt(text: string, from: number, length: number): number {
  let value = 0;
  for (let index = from; index < from + length; index++) value = value * 10 + text.charCodeAt(index) - 48;
  return value;
}
