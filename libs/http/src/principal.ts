import { createParamDecorator, ExecutionContext, SetMetadata } from '@nestjs/common';

/** What an account-facing route needs of a caller authenticated by an API key (see @app/access). */
export type Permission =
  | 'usage:read'
  | 'billing:manage'
  | 'keys:manage'
  | 'members:read'
  | 'members:manage'
  | 'settings:manage'
  | 'audit:read';

/** Who is calling: the operator (ADMIN_TOKEN), a gateway (GATEWAY_TOKENS) or a workspace API key. */
export type Principal =
  | { kind: 'admin' }
  | { kind: 'gateway' }
  | { kind: 'api_key'; keyId: string; accountId: string; role: string };

/** The caller and the address it came from, for audit records. */
export interface Caller {
  principal: Principal;
  ip: string;
}

export const ACCOUNT_PERMISSION_KEY = 'billing:account-permission';
export const GATEWAY_READABLE_KEY = 'billing:gateway-readable';

/**
 * An account-facing route with the account id in `:id`. The admin token may call it; a gateway
 * token only when it is also `GatewayReadable`; an API key only for its own account, from an
 * allowed address, with a role that grants `permission`.
 */
export const AccountRoute = (permission: Permission) => SetMetadata(ACCOUNT_PERMISSION_KEY, permission);

/**
 * An account route gateways may read too (the gateway contract: balances and usage). Opt-in, so a
 * new account route is closed to gateways unless it says so: `usage:read` alone also guards the
 * workspace's name and billing email, its projects and its budgets' spend.
 */
export const GatewayReadable = () => SetMetadata(GATEWAY_READABLE_KEY, true);

/** Verifies workspace API keys and what they may reach; provided by @app/access. */
export interface ApiKeyAuthority {
  /** The key's principal, or throws 401 for an unknown or revoked key. */
  authenticate(token: string): Promise<Extract<Principal, { kind: 'api_key' }>>;
  /** Throws 404 for another account's data, 403 for a refused address or a missing permission. */
  checkAccess(
    principal: Extract<Principal, { kind: 'api_key' }>,
    accountId: string,
    permission: Permission,
    ip: string,
  ): Promise<void>;
}
export const API_KEY_AUTHORITY = Symbol('API_KEY_AUTHORITY');

/** API keys look like bk_<prefix>_<secret>; anything else is compared with the static tokens. */
export const API_KEY_PATTERN = /^bk_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$/;

export const CurrentCaller = createParamDecorator((_data: unknown, context: ExecutionContext): Caller => {
  const request = context.switchToHttp().getRequest<{ principal?: Principal; ip: string }>();
  // A dual-stack listener reports IPv4 clients as ::ffff:a.b.c.d; record the address people know.
  const ip = /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(request.ip) ? request.ip.slice(7) : request.ip;
  return { principal: request.principal ?? { kind: 'admin' }, ip };
});
