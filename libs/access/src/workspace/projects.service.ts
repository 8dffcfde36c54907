import { auditActorOf, AuditLogService } from '@app/audit';
import { CatalogWriter } from '@app/catalog';
import { DATABASE, DatabaseHandle } from '@app/db';
import { ApiError, Caller } from '@app/http';
import { Inject, Injectable } from '@nestjs/common';

export interface ProjectRecord {
  id: string;
  account_id: string;
  name: string;
  created_at: Date;
  archived_at: Date | null;
}

const COLUMNS = 'id, account_id, name, created_at, archived_at';

/** Projects inside a workspace. Archived projects keep their history and take no new usage or keys. */
@Injectable()
export class ProjectsService {
  constructor(
    @Inject(DATABASE) private readonly database: DatabaseHandle,
    private readonly audit: AuditLogService,
    private readonly catalog: CatalogWriter,
  ) {}

  list(accountId: string): Promise<ProjectRecord[]> {
    return this.database.sql<ProjectRecord[]>`
      select ${this.database.sql.unsafe(COLUMNS)} from projects where account_id = ${accountId} order by created_at, id`;
  }

  async create(accountId: string, name: string, caller: Caller): Promise<ProjectRecord> {
    const project = await this.database.sql.begin(async (tx) => {
      const [row] = await tx<ProjectRecord[]>`
        insert into projects (account_id, name) values (${accountId}, ${name})
        on conflict do nothing returning ${tx.unsafe(COLUMNS)}`;
      if (!row) throw new ApiError(409, 'project_exists', 'a project with this name exists in the workspace');
      await this.audit.record(tx, {
        accountId,
        actor: auditActorOf(caller),
        action: 'project.created',
        targetType: 'project',
        targetId: row.id,
        before: null,
        after: { name: row.name },
      });
      return row;
    });
    await this.catalog.announce();
    return project;
  }

  async update(
    accountId: string,
    projectId: string,
    change: { name?: string; archived?: boolean },
    caller: Caller,
  ): Promise<ProjectRecord> {
    const project = await this.database.sql.begin(async (tx) => {
      const [before] = await tx<ProjectRecord[]>`
        select ${tx.unsafe(COLUMNS)} from projects where id = ${projectId} and account_id = ${accountId} for update`;
      if (!before) throw new ApiError(404, 'project_not_found', 'no such project');
      const archivedAt =
        change.archived === undefined
          ? before.archived_at
          : change.archived
            ? (before.archived_at ?? new Date())
            : null;
      const [after] = await tx<ProjectRecord[]>`
        update projects set name = ${change.name ?? before.name}, archived_at = ${archivedAt}, updated_at = now()
        where id = ${projectId} returning ${tx.unsafe(COLUMNS)}`.catch((error: { code?: string }) => {
        if (error.code === '23505')
          throw new ApiError(409, 'project_exists', 'a project with this name exists');
        throw error;
      });
      await this.audit.record(tx, {
        accountId,
        actor: auditActorOf(caller),
        action:
          change.archived === undefined
            ? 'project.updated'
            : change.archived
              ? 'project.archived'
              : 'project.restored',
        targetType: 'project',
        targetId: projectId,
        before: { name: before.name, archived_at: before.archived_at },
        after: { name: after.name, archived_at: after.archived_at },
      });
      return after;
    });
    await this.catalog.announce();
    return project;
  }
}
