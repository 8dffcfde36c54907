import { FormObject } from '../http/form-encoding';
import { invalidRequest, noSuchObject } from './api-error';
import { optionalInteger, optionalString } from './params';

export interface ListObject<T> {
  object: 'list';
  data: T[];
  has_more: boolean;
  url: string;
}

/** The parameters every list endpoint takes, for `checkParams`. */
export const LIST_PARAMS = { limit: true, starting_after: true, ending_before: true } as const;

/**
 * Stripe's cursor pagination over items in creation order: newest first, `limit` 1–100 (default
 * 10), `starting_after` / `ending_before` an id from a previous page.
 */
export function paginate<T extends { id: string }>(
  itemsInCreationOrder: Iterable<T>,
  params: FormObject,
  url: string,
): ListObject<T> {
  const limit = optionalInteger(params, 'limit') ?? 10;
  if (limit < 1 || limit > 100) {
    throw invalidRequest('Invalid limit: must be between 1 and 100', { param: 'limit' });
  }
  const newestFirst = [...itemsInCreationOrder].reverse();
  const startingAfter = optionalString(params, 'starting_after');
  const endingBefore = optionalString(params, 'ending_before');
  const indexOf = (id: string, param: string) => {
    const index = newestFirst.findIndex((item) => item.id === id);
    if (index === -1) throw noSuchObject('object', id, param);
    return index;
  };
  if (endingBefore) {
    const end = indexOf(endingBefore, 'ending_before');
    const start = Math.max(0, end - limit);
    return { object: 'list', data: newestFirst.slice(start, end), has_more: start > 0, url };
  }
  const start = startingAfter ? indexOf(startingAfter, 'starting_after') + 1 : 0;
  const data = newestFirst.slice(start, start + limit);
  return { object: 'list', data, has_more: start + limit < newestFirst.length, url };
}
