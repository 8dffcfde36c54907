import { CachedAccount, CatalogCache } from '@app/catalog';
import { ApiError, ApiKeyAuthority, Permission, Principal } from '@app/http';
import { Injectable } from '@nestjs/common';
import { IpAllowlist } from './ip-allowlist/ip-allowlist';
import { apiKeyMatches, apiKeyPrefix } from './keys/api-key-secret';
import { ROLE_PERMISSIONS } from './permissions';

type KeyPrincipal = Extract<Principal, { kind: 'api_key' }>;

/**
 * Authenticates workspace API keys from the catalog cache. Every check first compares the
 * catalog version in Redis (one GET), so a key revoked anywhere is refused on the next request.
 */
@Injectable()
export class CatalogApiKeyAuthority implements ApiKeyAuthority {
  /** Compiled allowlists, per cached list (a changed list is a new array, so a new entry). */
  private readonly allowlists = new WeakMap<string[], IpAllowlist>();

  constructor(private readonly catalog: CatalogCache) {}

  async authenticate(token: string): Promise<KeyPrincipal> {
    await this.catalog.refreshIfStale();
    const prefix = apiKeyPrefix(token);
    const key = prefix === null ? undefined : this.catalog.apiKeyByPrefix(prefix);
    if (!key || !apiKeyMatches(token, key.secretHash)) {
      throw new ApiError(401, 'unauthorized', 'unknown token');
    }
    if (key.revokedAt) throw new ApiError(401, 'api_key_revoked', 'this API key was revoked');
    return { kind: 'api_key', keyId: key.id, accountId: key.accountId, role: key.role };
  }

  async checkAccess(principal: KeyPrincipal, accountId: string, permission: Permission, ip: string) {
    // Another workspace's data looks exactly like data that does not exist (I7).
    if (principal.accountId !== accountId) throw new ApiError(404, 'account_not_found', 'no such account');
    const account = this.catalog.account(accountId);
    if (!account) throw new ApiError(404, 'account_not_found', 'no such account');
    if (!this.allowlistOf(account).allows(ip)) {
      throw new ApiError(
        403,
        'ip_not_allowed',
        `requests from ${ip} are outside this workspace's IP allowlist`,
      );
    }
    const permissions = ROLE_PERMISSIONS[principal.role as keyof typeof ROLE_PERMISSIONS];
    if (!permissions?.has(permission)) {
      throw new ApiError(403, 'insufficient_role', `an API key with role ${principal.role} may not do this`);
    }
  }

  private allowlistOf(account: CachedAccount): IpAllowlist {
    let allowlist = this.allowlists.get(account.ipAllowlist);
    if (!allowlist) {
      allowlist = IpAllowlist.compile(account.ipAllowlist);
      this.allowlists.set(account.ipAllowlist, allowlist);
    }
    return allowlist;
  }
}
