import { CanActivate, ExecutionContext, Inject, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { createHash, timingSafeEqual } from 'node:crypto';
import { ApiError } from './api-error';

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

/** Says whose token an Authorization header carries, comparing in constant time. */
export class TokenRegistry {
  private readonly admin: Buffer[];
  private readonly gateway: Buffer[];

  constructor(tokens: AuthTokens) {
    this.admin = tokens.adminToken ? [digest(tokens.adminToken)] : [];
    this.gateway = tokens.gatewayTokens.map(digest);
  }

  /** The caller's scope, or throws 401 for a missing, malformed or unknown token. */
  identify(header: string | undefined): Scope {
    // The auth scheme is case-insensitive (RFC 9110 11.1); the token itself is compared exactly.
    const match = /^Bearer (.+)$/i.exec(header ?? '');
    if (!match) throw new ApiError(401, 'unauthorized', 'send Authorization: Bearer <token>');
    const presented = digest(match[1]);
    if (matchesAny(presented, this.admin)) return 'admin';
    if (matchesAny(presented, this.gateway)) return 'gateway';
    throw new ApiError(401, 'unauthorized', 'unknown token');
  }
}

@Injectable()
export class AuthGuard implements CanActivate {
  private readonly registry: TokenRegistry;

  constructor(
    private readonly reflector: Reflector,
    @Inject(AUTH_TOKENS) tokens: AuthTokens,
  ) {
    this.registry = new TokenRegistry(tokens);
  }

  canActivate(context: ExecutionContext): boolean {
    const scope = this.reflector.getAllAndOverride<Scope | 'public' | undefined>(SCOPE_KEY, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (scope === 'public') return true;
    const header = context.switchToHttp().getRequest<{ headers: Record<string, string | undefined> }>()
      .headers.authorization;
    const caller = this.registry.identify(header);
    if (caller === 'admin' || scope === 'gateway') return true;
    throw new ApiError(403, 'forbidden', 'this route needs the admin token');
  }
}
