import { MemberRole } from '@app/catalog';
import { ApiError, Caller } from '@app/http';
import { mayAssignRole } from './permissions';

/** The role a caller acts with inside a workspace; the operator's admin token outranks every role. */
export function callerRole(caller: Caller): MemberRole | 'platform_admin' {
  return caller.principal.kind === 'api_key' ? (caller.principal.role as MemberRole) : 'platform_admin';
}

export function requireMayAssign(caller: Caller, role: MemberRole): void {
  if (!mayAssignRole(callerRole(caller), role)) {
    throw new ApiError(403, 'insufficient_role', `your role may not grant or change the ${role} role`);
  }
}
