import { CachedAccount } from '../catalog-types';
import { CatalogCache } from '../catalog-cache';
import { ApiError } from '@app/http';

/** The account behind an account route, or 404 (after a catalog version check, so new accounts are found). */
export async function requireAccount(catalog: CatalogCache, accountId: string): Promise<CachedAccount> {
  const account = await catalog.findAccount(accountId);
  if (!account) throw new ApiError(404, 'account_not_found', 'no such account');
  return account;
}
