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

@Injectable()
export class AuthGuard implements CanActivate {
  private readonly admin: Buffer[];
  private readonly gateway: Buffer[];

  constructor(
    private readonly reflector: Reflector,
    @Inject(AUTH_TOKENS) tokens: AuthTokens,
  ) {
    this.admin = [digest(tokens.adminToken)];
    this.gateway = tokens.gatewayTokens.map(digest);
  }

  canActivate(context: ExecutionContext): boolean {
    const scope = this.reflector.getAllAndOverride<Scope | 'public' | undefined>(SCOPE_KEY, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (scope === 'public') return true;
    const header = context.switchToHttp().getRequest<{ headers: Record<string, string | undefined> }>().headers
      .authorization;
    // The auth scheme is case-insensitive (RFC 9110 11.1); the token itself is compared exactly.
    const match = /^Bearer (.+)$/i.exec(header ?? '');
    if (!match) throw new ApiError(401, 'unauthorized', 'send Authorization: Bearer <token>');
    const presented = digest(match[1]);
    if (matchesAny(presented, this.admin)) return true;
    if (!matchesAny(presented, this.gateway)) throw new ApiError(401, 'unauthorized', 'unknown token');
    if (scope !== 'gateway') throw new ApiError(403, 'forbidden', 'this route needs the admin token');
    return true;
  }
}
