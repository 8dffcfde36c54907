import { auditActorOf, AuditLogService } from '@app/audit';
import { CatalogWriter, KeyLimitPeriod, MemberRole } from '@app/catalog';
import { DATABASE, DatabaseHandle, Tx } from '@app/db';
import { ApiError, Caller } from '@app/http';
import { Inject, Injectable } from '@nestjs/common';
import { requireMayAssign } from '../caller';
import { generateApiKey } from './api-key-secret';
import { KeySpendStore } from './key-spend.store';

export interface ApiKeyRecord {
  id: string;
  account_id: string;
  project_id: string | null;
  member_id: string | null;
  name: string;
  role: MemberRole;
  prefix: string;
  limit_micros: bigint | null;
  limit_period: KeyLimitPeriod | null;
  created_at: Date;
  revoked_at: Date | null;
}

export interface KeyLimit {
  micros: bigint;
  period: KeyLimitPeriod;
}

export interface NewApiKey {
  name: string;
  role: MemberRole;
  projectId: string | null;
  memberId: string | null;
  limit: KeyLimit | null;
}

export interface ApiKeyChange {
  name?: string;
  /** null removes the limit. */
  limit?: KeyLimit | null;
}

const COLUMNS =
  'id, account_id, project_id, member_id, name, role, prefix, limit_micros, limit_period, created_at, revoked_at';

/** What the audit log keeps of a key: never its secret or hash. */
function auditView(key: ApiKeyRecord) {
  return {
    name: key.name,
    role: key.role,
    prefix: key.prefix,
    project_id: key.project_id,
    member_id: key.member_id,
    limit_micros: key.limit_micros,
    limit_period: key.limit_period,
    revoked_at: key.revoked_at,
  };
}

/**
 * Creates, changes and revokes workspace API keys. Each change commits with its audit row, then
 * announces a catalog change, so every process authenticates against it on the next request.
 */
@Injectable()
export class ApiKeysService {
  constructor(
    @Inject(DATABASE) private readonly database: DatabaseHandle,
    private readonly audit: AuditLogService,
    private readonly catalog: CatalogWriter,
    private readonly keySpend: KeySpendStore,
  ) {}

  async create(
    accountId: string,
    input: NewApiKey,
    caller: Caller,
  ): Promise<{ key: string; record: ApiKeyRecord }> {
    requireMayAssign(caller, input.role);
    const secret = generateApiKey();
    const record = await this.database.sql.begin(async (tx) => {
      if (input.projectId) {
        const [project] = await tx`
          select 1 from projects where id = ${input.projectId} and account_id = ${accountId} and archived_at is null`;
        if (!project) throw new ApiError(422, 'unknown_project', 'no such active project in this workspace');
      }
      if (input.memberId) {
        const [member] =
          await tx`select 1 from account_members where id = ${input.memberId} and account_id = ${accountId}`;
        if (!member) throw new ApiError(422, 'unknown_member', 'no such member in this workspace');
      }
      const [row] = await tx<ApiKeyRecord[]>`
        insert into api_keys (account_id, project_id, member_id, name, role, prefix, secret_hash, limit_micros, limit_period)
        values (${accountId}, ${input.projectId}, ${input.memberId}, ${input.name}, ${input.role}, ${secret.prefix},
                ${secret.secretHash}, ${input.limit?.micros ?? null}, ${input.limit?.period ?? null})
        returning ${tx.unsafe(COLUMNS)}`;
      await this.recordChange(tx, caller, 'api_key.created', row.id, null, row);
      return row;
    });
    await this.catalog.announce();
    return { key: secret.key, record };
  }

  async list(accountId: string): Promise<ApiKeyRecord[]> {
    return this.database.sql<ApiKeyRecord[]>`
      select ${this.database.sql.unsafe(COLUMNS)} from api_keys where account_id = ${accountId}
      order by created_at desc, id`;
  }

  async get(accountId: string, keyId: string): Promise<ApiKeyRecord> {
    const [row] = await this.database.sql<ApiKeyRecord[]>`
      select ${this.database.sql.unsafe(COLUMNS)} from api_keys where id = ${keyId} and account_id = ${accountId}`;
    if (!row) throw new ApiError(404, 'api_key_not_found', 'no such API key');
    return row;
  }

  async update(
    accountId: string,
    keyId: string,
    change: ApiKeyChange,
    caller: Caller,
  ): Promise<ApiKeyRecord> {
    const updated = await this.database.sql.begin(async (tx) => {
      const before = await this.lockKey(tx, accountId, keyId);
      requireMayAssign(caller, before.role);
      if (before.revoked_at) throw new ApiError(409, 'api_key_revoked', 'a revoked key cannot be changed');
      const limit = change.limit === undefined ? undefined : change.limit;
      const [after] = await tx<ApiKeyRecord[]>`
        update api_keys set
          name = ${change.name ?? before.name},
          limit_micros = ${limit === undefined ? before.limit_micros : (limit?.micros ?? null)},
          limit_period = ${limit === undefined ? before.limit_period : (limit?.period ?? null)},
          updated_at = now()
        where id = ${keyId}
        returning ${tx.unsafe(COLUMNS)}`;
      await this.recordChange(tx, caller, 'api_key.updated', keyId, before, after);
      return { before, after };
    });
    await this.catalog.announce();
    const { before, after } = updated;
    // Announced first: a worker that still adds to the old counter adds only to one that exists.
    if (before.limit_period && before.limit_period !== after.limit_period) {
      await this.keySpend.forget({ accountId, id: keyId }, before.limit_period);
    }
    return after;
  }

  /** Revokes a key; revoking it again changes nothing and answers the same. */
  async revoke(accountId: string, keyId: string, caller: Caller): Promise<ApiKeyRecord> {
    const revoked = await this.database.sql.begin(async (tx) => {
      const before = await this.lockKey(tx, accountId, keyId);
      requireMayAssign(caller, before.role);
      if (before.revoked_at) return before;
      const [after] = await tx<ApiKeyRecord[]>`
        update api_keys set revoked_at = now(), updated_at = now() where id = ${keyId}
        returning ${tx.unsafe(COLUMNS)}`;
      await this.recordChange(tx, caller, 'api_key.revoked', keyId, before, after);
      return after;
    });
    await this.catalog.announce();
    return revoked;
  }

  private recordChange(
    tx: Tx,
    caller: Caller,
    action: string,
    keyId: string,
    before: ApiKeyRecord | null,
    after: ApiKeyRecord,
  ): Promise<void> {
    return this.audit.record(tx, {
      accountId: after.account_id,
      actor: auditActorOf(caller),
      action,
      targetType: 'api_key',
      targetId: keyId,
      before: before && auditView(before),
      after: auditView(after),
    });
  }

  private async lockKey(tx: Tx, accountId: string, keyId: string): Promise<ApiKeyRecord> {
    const [row] = await tx<ApiKeyRecord[]>`
      select ${tx.unsafe(COLUMNS)} from api_keys where id = ${keyId} and account_id = ${accountId} for update`;
    if (!row) throw new ApiError(404, 'api_key_not_found', 'no such API key');
    return row;
  }
}
