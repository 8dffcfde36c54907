import { invalidRequest } from './api-error';

const MAX_EXPAND_DEPTH = 4;

type Lookup = (id: string) => object | undefined;

/**
 * Applies Stripe's `expand[]`: each dotted path names an id field to replace by the object it
 * points at (`latest_charge`, `data.customer` in lists, `latest_charge.payment_intent`).
 * Works on a copy, so stored objects keep their ids.
 */
export function applyExpand<T>(value: T, paths: string[], lookup: Lookup): T {
  if (paths.length === 0 || value === null || typeof value !== 'object') return value;
  const copy = structuredClone(value) as Record<string, unknown>;
  for (const path of paths) {
    const segments = path.split('.');
    if (segments.length > MAX_EXPAND_DEPTH) {
      throw invalidRequest(`You cannot expand more than ${MAX_EXPAND_DEPTH} levels of a property.`, {
        param: 'expand',
      });
    }
    expandAt(copy, segments, path, lookup);
  }
  return copy as T;
}

function expandAt(node: Record<string, unknown>, segments: string[], path: string, lookup: Lookup): void {
  const [key, ...rest] = segments;
  if (node.object === 'list' && key === 'data' && Array.isArray(node.data)) {
    for (const item of node.data as Record<string, unknown>[]) {
      if (rest.length > 0) expandAt(item, rest, path, lookup);
    }
    return;
  }
  if (!(key in node)) {
    throw invalidRequest(`This property cannot be expanded (${path}).`, { param: 'expand' });
  }
  let child = node[key];
  if (typeof child === 'string') {
    const found = lookup(child);
    if (!found) {
      throw invalidRequest(`This property cannot be expanded (${path}).`, { param: 'expand' });
    }
    child = structuredClone(found);
    node[key] = child;
  }
  if (rest.length > 0 && child !== null && typeof child === 'object') {
    expandAt(child as Record<string, unknown>, rest, path, lookup);
  }
}
