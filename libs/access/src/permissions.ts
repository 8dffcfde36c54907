import { MemberRole } from '@app/catalog';
import { Permission } from '@app/http';

/**
 * What each workspace role may do. Owners and admins run the workspace; billing members handle
 * money; members read usage. An API key acts with the role it was created with.
 */
export const ROLE_PERMISSIONS: Record<MemberRole, ReadonlySet<Permission>> = {
  owner: new Set<Permission>([
    'usage:read',
    'billing:manage',
    'keys:manage',
    'members:read',
    'members:manage',
    'settings:manage',
    'audit:read',
  ]),
  admin: new Set<Permission>([
    'usage:read',
    'billing:manage',
    'keys:manage',
    'members:read',
    'members:manage',
    'settings:manage',
    'audit:read',
  ]),
  billing: new Set<Permission>(['usage:read', 'billing:manage', 'members:read']),
  member: new Set<Permission>(['usage:read', 'members:read']),
};

const RANK: Record<MemberRole, number> = { owner: 3, admin: 2, billing: 1, member: 0 };

export const MEMBER_ROLES: readonly MemberRole[] = ['owner', 'admin', 'billing', 'member'];

/** May a caller with `callerRole` hand out (or change something holding) `role`? Admins never touch owners. */
export function mayAssignRole(callerRole: MemberRole | 'platform_admin', role: MemberRole): boolean {
  if (callerRole === 'platform_admin') return true;
  if (role === 'owner') return callerRole === 'owner';
  return RANK[callerRole] >= RANK[role] && RANK[callerRole] >= RANK.admin;
}
