import { auditActorOf, AuditLogService } from '@app/audit';
import { CatalogWriter, MemberRole } from '@app/catalog';
import { DATABASE, DatabaseHandle, Tx } from '@app/db';
import { ApiError, Caller } from '@app/http';
import { Inject, Injectable } from '@nestjs/common';
import { requireMayAssign } from '../caller';
import { MEMBER_ROLES } from '../permissions';

export interface MemberRecord {
  id: string;
  account_id: string;
  email: string;
  name: string | null;
  role: MemberRole;
  created_at: Date;
}

const COLUMNS = 'id, account_id, email, name, role, created_at';

function auditView(member: MemberRecord) {
  return { email: member.email, name: member.name, role: member.role };
}

/**
 * Workspace members. Exactly one owner: ownership moves only by making another member owner
 * (the old owner becomes admin), never by removing or demoting the owner.
 */
@Injectable()
export class MembersService {
  constructor(
    @Inject(DATABASE) private readonly database: DatabaseHandle,
    private readonly audit: AuditLogService,
    private readonly catalog: CatalogWriter,
  ) {}

  list(accountId: string): Promise<MemberRecord[]> {
    return this.database.sql<MemberRecord[]>`
      select ${this.database.sql.unsafe(COLUMNS)} from account_members where account_id = ${accountId}
      order by created_at, id`;
  }

  async add(
    accountId: string,
    input: { email: string; name: string | null; role: MemberRole },
    caller: Caller,
  ): Promise<MemberRecord> {
    if (input.role === 'owner') {
      throw new ApiError(422, 'owner_transfer_required', 'add the member first, then make them owner');
    }
    requireMayAssign(caller, input.role);
    return this.database.sql.begin(async (tx) => {
      const [row] = await tx<MemberRecord[]>`
        insert into account_members (account_id, email, name, role)
        values (${accountId}, ${input.email}, ${input.name}, ${input.role})
        on conflict do nothing
        returning ${tx.unsafe(COLUMNS)}`;
      if (!row) throw new ApiError(409, 'member_exists', 'this email is already a member of the workspace');
      await this.record(tx, caller, 'member.added', row.id, null, auditView(row), accountId);
      return row;
    });
  }

  async update(
    accountId: string,
    memberId: string,
    change: { name?: string | null; role?: MemberRole },
    caller: Caller,
  ): Promise<MemberRecord> {
    const updated = await this.database.sql.begin(async (tx) => {
      // Lock the workspace's members in one order: concurrent ownership moves cannot deadlock or leave two owners.
      const members = await tx<MemberRecord[]>`
        select ${tx.unsafe(COLUMNS)} from account_members where account_id = ${accountId} order by id for update`;
      const before = members.find((member) => member.id === memberId);
      if (!before) throw new ApiError(404, 'member_not_found', 'no such member');
      requireMayAssign(caller, before.role);
      const role = change.role ?? before.role;
      if (role !== before.role) requireMayAssign(caller, role);
      if (before.role === 'owner' && role !== 'owner') {
        throw new ApiError(409, 'owner_transfer_required', 'make another member owner instead');
      }
      if (role === 'owner' && before.role !== 'owner') {
        const owner = members.find((member) => member.role === 'owner');
        if (owner) {
          const [demoted] = await tx<MemberRecord[]>`
            update account_members set role = 'admin', updated_at = now() where id = ${owner.id}
            returning ${tx.unsafe(COLUMNS)}`;
          await this.record(
            tx,
            caller,
            'member.role_changed',
            owner.id,
            auditView(owner),
            auditView(demoted),
            accountId,
          );
          await this.clampKeyRoles(tx, caller, accountId, owner.id, 'admin');
        }
      }
      const [after] = await tx<MemberRecord[]>`
        update account_members set role = ${role}, name = ${change.name === undefined ? before.name : change.name},
               updated_at = now()
        where id = ${memberId} returning ${tx.unsafe(COLUMNS)}`;
      if (role !== before.role) await this.clampKeyRoles(tx, caller, accountId, memberId, role);
      const action = role !== before.role ? 'member.role_changed' : 'member.updated';
      await this.record(tx, caller, action, memberId, auditView(before), auditView(after), accountId);
      return after;
    });
    // Key roles may have changed with the member's: every process must see it.
    await this.catalog.announce();
    return updated;
  }

  /** Removes a member and revokes the API keys that belong to them, in one transaction. */
  async remove(accountId: string, memberId: string, caller: Caller): Promise<void> {
    await this.database.sql.begin(async (tx) => {
      const [member] = await tx<MemberRecord[]>`
        select ${tx.unsafe(COLUMNS)} from account_members where id = ${memberId} and account_id = ${accountId} for update`;
      if (!member) throw new ApiError(404, 'member_not_found', 'no such member');
      requireMayAssign(caller, member.role);
      if (member.role === 'owner')
        throw new ApiError(409, 'owner_transfer_required', 'the owner cannot be removed');
      const keys = await tx<{ id: string; name: string; prefix: string }[]>`
        update api_keys set revoked_at = now(), updated_at = now()
        where member_id = ${memberId} and revoked_at is null returning id, name, prefix`;
      for (const key of keys) {
        await this.record(
          tx,
          caller,
          'api_key.revoked',
          key.id,
          null,
          { reason: 'member_removed', ...key },
          accountId,
          'api_key',
        );
      }
      await tx`update api_keys set member_id = null, updated_at = now() where member_id = ${memberId}`;
      await tx`delete from account_members where id = ${memberId}`;
      await this.record(tx, caller, 'member.removed', memberId, auditView(member), null, accountId);
    });
    await this.catalog.announce();
  }

  /** A member's keys never act above the member's role: a demotion lowers them too, audited. */
  private async clampKeyRoles(
    tx: Tx,
    caller: Caller,
    accountId: string,
    memberId: string,
    role: MemberRole,
  ): Promise<void> {
    const above = MEMBER_ROLES.slice(0, MEMBER_ROLES.indexOf(role));
    if (above.length === 0) return;
    const lowered = await tx<{ id: string }[]>`
      update api_keys set role = ${role}, updated_at = now()
      where member_id = ${memberId} and revoked_at is null and role::text = any(${above}::text[])
      returning id`;
    for (const key of lowered) {
      const change = { role, reason: 'member_role_changed' };
      await this.record(tx, caller, 'api_key.updated', key.id, null, change, accountId, 'api_key');
    }
  }

  private record(
    tx: Tx,
    caller: Caller,
    action: string,
    targetId: string,
    before: unknown,
    after: unknown,
    accountId: string,
    targetType = 'member',
  ): Promise<void> {
    return this.audit.record(tx, {
      accountId,
      actor: auditActorOf(caller),
      action,
      targetType,
      targetId,
      before,
      after,
    });
  }
}
