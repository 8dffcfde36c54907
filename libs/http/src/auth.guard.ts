import { CanActivate, ExecutionContext, Inject, Injectable, Optional, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { createHash, timingSafeEqual } from 'node:crypto';
import { ApiError } from './api-error';
import {
  ACCOUNT_PERMISSION_KEY,
  GATEWAY_READABLE_KEY,
  API_KEY_AUTHORITY,
  API_KEY_PATTERN,
  ApiKeyAuthority,
  Permission,
  Principal,
} from './principal';

export type Scope = 'gateway' | 'admin';
export const SCOPE_KEY = 'billing:scope';
/** Who may call a route: gateway routes accept gateway tokens and the admin token; admin routes only the latter. */
export const RequireScope = (scope: Scope) => SetMetadata(SCOPE_KEY, scope);
/** Routes reachable without a token (health, metrics, docs). */
export const Public = () => SetMetadata(SCOPE_KEY, 'public');

export interface AuthTokens {
  adminToken: string;
  gatewayTokens: string[];
}
export const AUTH_TOKENS = Symbol('AUTH_TOKENS');

/** Digests have a fixed length, so timingSafeEqual never leaks a token's length or prefix. */
function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

function matchesAny(candidate: Buffer, tokens: Buffer[]): boolean {
  let found = false;
  for (const token of tokens) found = timingSafeEqual(candidate, token) || found;
  return found;
}

/** What a token is: the admin or a gateway token, or shaped like a workspace API key (checked by ApiKeyAuthority). */
export type TokenKind = Scope | 'api_key';
/** Where a request keeps what its token was found to be (set by TokenRegistry.identifyRequest). */
const CALLER = Symbol('billing.caller');

export interface IdentifiableRequest {
  headers: Record<string, string | string[] | undefined>;
  [CALLER]?: TokenKind;
}

/** Says whose token an Authorization header carries, comparing in constant time. */
export class TokenRegistry {
  private readonly admin: Buffer[];
  private readonly gateway: Buffer[];

  constructor(tokens: AuthTokens) {
    this.admin = tokens.adminToken ? [digest(tokens.adminToken)] : [];
    this.gateway = tokens.gatewayTokens.map(digest);
  }

  /**
   * The caller's scope, 'api_key' for a token shaped like a workspace key (verified by
   * ApiKeyAuthority), or throws 401 for a missing, malformed or unknown token.
   */
  identify(header: string | undefined): TokenKind {
    const token = bearerToken(header);
    const presented = digest(token);
    if (matchesAny(presented, this.admin)) return 'admin';
    if (matchesAny(presented, this.gateway)) return 'gateway';
    if (API_KEY_PATTERN.test(token)) return 'api_key';
    throw new ApiError(401, 'unauthorized', 'unknown token');
  }

  /**
   * identify() once per request: the check before the body is read (createHttpApp) and AuthGuard
   * share the answer, so a read hashes its token once. Both registries hold the same tokens.
   */
  identifyRequest(request: IdentifiableRequest): TokenKind {
    const header = request.headers.authorization;
    return (request[CALLER] ??= this.identify(typeof header === 'string' ? header : undefined));
  }
}

export function bearerToken(header: string | undefined): string {
  // The auth scheme is case-insensitive (RFC 9110 11.1); the token itself is compared exactly.
  const match = /^Bearer (.+)$/i.exec(header ?? '');
  if (!match) throw new ApiError(401, 'unauthorized', 'send Authorization: Bearer <token>');
  return match[1];
}

interface GuardedRequest extends IdentifiableRequest {
  headers: Record<string, string | undefined>;
  params?: Record<string, string | undefined>;
  ip: string;
  principal?: Principal;
}

@Injectable()
export class AuthGuard implements CanActivate {
  private readonly registry: TokenRegistry;

  constructor(
    private readonly reflector: Reflector,
    @Inject(AUTH_TOKENS) tokens: AuthTokens,
    @Optional() @Inject(API_KEY_AUTHORITY) private readonly keys?: ApiKeyAuthority,
  ) {
    this.registry = new TokenRegistry(tokens);
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    const scope = this.reflector.getAllAndOverride<Scope | 'public' | undefined>(SCOPE_KEY, targets);
    if (scope === 'public') return true;
    const permission = this.reflector.getAllAndOverride<Permission | undefined>(
      ACCOUNT_PERMISSION_KEY,
      targets,
    );
    const request = context.switchToHttp().getRequest<GuardedRequest>();
    const caller = this.registry.identifyRequest(request);

    if (caller === 'admin') {
      request.principal = { kind: 'admin' };
      return true;
    }
    if (caller === 'gateway') {
      request.principal = { kind: 'gateway' };
      // Gateways may read balances and usage (the gateway contract), nothing else of an account.
      const readable = this.reflector.getAllAndOverride<boolean | undefined>(GATEWAY_READABLE_KEY, targets);
      if (permission ? readable === true : scope === 'gateway') return true;
      throw new ApiError(403, 'forbidden', 'this route needs the admin token or an API key of the account');
    }
    if (!this.keys) throw new ApiError(401, 'unauthorized', 'unknown token');
    const principal = await this.keys.authenticate(bearerToken(request.headers.authorization));
    request.principal = principal;
    if (!permission) throw new ApiError(403, 'forbidden', 'API keys may only call account routes');
    await this.keys.checkAccess(principal, (request.params?.id ?? '').toLowerCase(), permission, request.ip);
    return true;
  }
}
