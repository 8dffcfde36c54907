/**
 * Postgres array literals ('{1,2,3}') built directly, for the set-based inserts of the hot path.
 * postgres.js passes a string bound to an array parameter through unchanged; given a JS array it
 * quotes and runs two regex replacements on every element, and turns every timestamp string back
 * into a Date and out again. For the usage batch's 13 arrays that was 3-5% of the worker's CPU.
 */

/** Integers (number or bigint): their decimal forms need no quoting. */
export function integerArrayLiteral(values: ReadonlyArray<number | bigint>): string {
  return `{${values.join(',')}}`;
}

/**
 * Text elements, each quoted (so "NULL", commas, braces and spaces stay text) with backslash and
 * double quote escaped; null elements become SQL NULL.
 */
export function textArrayLiteral(values: ReadonlyArray<string | null>): string {
  let literal = '{';
  for (let index = 0; index < values.length; index++) {
    if (index > 0) literal += ',';
    const value = values[index];
    literal +=
      value === null ? 'NULL' : `"${NEEDS_ESCAPE.test(value) ? value.replace(ESCAPED, '\\$&') : value}"`;
  }
  return `${literal}}`;
}

const NEEDS_ESCAPE = /["\\]/;
const ESCAPED = /["\\]/g;

/** A column as its distinct values and each row's 1-based position among them: see dictionaryColumn. */
export interface DictionaryColumn<L = string> {
  /** The distinct values, in order of first appearance, as `literalOf` made them. */
  distinct: L;
  /** Per row, the position of its value in `distinct` (from 1), or NULL for a null value. */
  positions: string;
}

/**
 * A column whose values repeat a lot (a batch's accounts, keys, models), sent as its distinct
 * values plus one small integer per row. Postgres parses a quoted 36-character uuid or a model
 * name far more slowly than a number, and every byte of the literal is built, sent and scanned.
 */
export function dictionaryColumn<T extends string | number | bigint, L = string>(
  values: ReadonlyArray<T | null>,
  literalOf: (distinct: T[]) => L,
): DictionaryColumn<L> {
  const positionOf = new Map<T, number>();
  const distinct: T[] = [];
  let positions = '{';
  for (let index = 0; index < values.length; index++) {
    if (index > 0) positions += ',';
    const value = values[index];
    if (value === null) {
      positions += 'NULL';
      continue;
    }
    let position = positionOf.get(value);
    if (position === undefined) {
      distinct.push(value);
      positionOf.set(value, (position = distinct.length));
    }
    positions += position;
  }
  return { distinct: literalOf(distinct), positions: `${positions}}` };
}
