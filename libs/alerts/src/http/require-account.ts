import { CatalogCache } from '@app/catalog';
import { ApiError } from '@app/http';

/**
 * 404 account_not_found for an account that does not exist (the admin token reaches any id), as
 * on every other account route: before anything is read or written, so an unknown id never gets
 * default settings, zero spend, or a foreign-key violation (500) on a write.
 * Checked after a catalog version check, so an account created a moment ago is found.
 */
export async function requireAccount(catalog: CatalogCache, accountId: string): Promise<void> {
  if (!(await catalog.findAccount(accountId)))
    throw new ApiError(404, 'account_not_found', 'no such account');
}
