import { Caller } from '@app/http';

/** Who made a change. `ip` is the client address as the HTTP layer resolved it; null off-HTTP. */
export interface AuditActor {
  type: 'admin' | 'api_key' | 'gateway' | 'system';
  /** The API key id for api_key actors; null otherwise. */
  id: string | null;
  ip: string | null;
}

/**
 * One change to record. `before` and `after` must already be redacted by the caller (never a key,
 * token or secret hash); the service strips a few well-known secret property names as a backstop.
 */
export interface AuditEntry {
  accountId: string;
  actor: AuditActor;
  /** Dotted verb, e.g. api_key.revoked, member.role_changed, credits.granted. */
  action: string;
  targetType: string;
  targetId: string | null;
  before: unknown | null;
  after: unknown | null;
}

/** The actor of a change made through the HTTP API. */
export function auditActorOf(caller: Caller): AuditActor {
  const { principal } = caller;
  return { type: principal.kind, id: principal.kind === 'api_key' ? principal.keyId : null, ip: caller.ip };
}

/** Workers and schedulers. */
export const SYSTEM_ACTOR: AuditActor = { type: 'system', id: null, ip: null };
