import { invalidRequest } from '../core/api-error';

/** A decoded request parameter: Stripe's bracket notation nests strings into objects and arrays. */
export type FormValue = string | FormValue[] | FormObject;
export interface FormObject {
  [key: string]: FormValue;
}

/** Keys that would reach Object.prototype if used as property names. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const MAX_DEPTH = 6;

/**
 * Parses `application/x-www-form-urlencoded` with Stripe's bracket notation:
 * `metadata[purchase_id]=1`, `expand[]=a` / `expand[0]=a`, `card[networks][preferred]=visa`.
 * The SDK sends indexed arrays (`expand[0]`), curl users send `expand[]`; both become arrays.
 * Keys of `metadata` are kept as keys even when numeric.
 */
export function parseForm(input: string): FormObject {
  const root: FormObject = {};
  const text = input.startsWith('?') ? input.slice(1) : input;
  if (!text) return root;
  for (const pair of text.split('&')) {
    if (!pair) continue;
    const separator = pair.indexOf('=');
    const rawKey = separator === -1 ? pair : pair.slice(0, separator);
    const rawValue = separator === -1 ? '' : pair.slice(separator + 1);
    assign(root, keyPath(decode(rawKey)), decode(rawValue));
  }
  return normalizeArrays(root, false) as FormObject;
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    throw invalidRequest(`Invalid URL encoding: ${text.slice(0, 40)}`);
  }
}

/** `a[b][]` → ['a', 'b', '']. */
function keyPath(key: string): string[] {
  const open = key.indexOf('[');
  if (open <= 0) return [key];
  const path = [key.slice(0, open)];
  const rest = key.slice(open);
  const segment = /\[([^\]]*)\]/g;
  let consumed = 0;
  for (let match = segment.exec(rest); match; match = segment.exec(rest)) {
    if (match.index !== consumed) break;
    path.push(match[1]);
    consumed = segment.lastIndex;
  }
  if (consumed !== rest.length) throw invalidRequest(`Invalid parameter name: ${key}`);
  if (path.length > MAX_DEPTH) throw invalidRequest(`Parameter nested too deeply: ${key}`);
  return path;
}

function assign(root: FormObject, path: string[], value: string): void {
  for (const key of path) {
    if (FORBIDDEN_KEYS.has(key)) throw invalidRequest(`Invalid parameter name: ${path.join('.')}`);
  }
  let container: FormObject | FormValue[] = root;
  for (let index = 0; index < path.length; index++) {
    const key = path[index];
    const last = index === path.length - 1;
    if (Array.isArray(container)) {
      // Only `[]` reaches an array: append, or start a new element object for `a[][b]`.
      if (last) container.push(value);
      else {
        const child: FormObject = {};
        container.push(child);
        container = child;
      }
      continue;
    }
    const nextIsPush = !last && path[index + 1] === '';
    if (last) {
      container[key] = value;
    } else if (nextIsPush) {
      if (!Array.isArray(container[key])) container[key] = [];
      container = container[key] as FormValue[];
    } else {
      const existing: FormValue | undefined = container[key];
      if (existing === undefined || typeof existing === 'string' || Array.isArray(existing)) {
        container[key] = {};
      }
      container = container[key] as FormObject;
    }
  }
}

/** Objects whose keys are all indexes (`expand[0]`, `expand[1]`) become arrays, in index order. */
function normalizeArrays(value: FormValue, insideMetadata: boolean): FormValue {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map((item) => normalizeArrays(item, false));
  const keys = Object.keys(value);
  if (!insideMetadata && keys.length > 0 && keys.every((key) => /^\d+$/.test(key))) {
    return keys.sort((a, b) => Number(a) - Number(b)).map((key) => normalizeArrays(value[key], false));
  }
  const result: FormObject = {};
  for (const key of keys) {
    result[key] = insideMetadata ? value[key] : normalizeArrays(value[key], key === 'metadata');
  }
  return result;
}
