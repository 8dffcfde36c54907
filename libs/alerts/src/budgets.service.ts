import { AuditActor, AuditLogService } from '@app/audit';
import { CatalogWriter } from '@app/catalog';
import { DATABASE, DatabaseHandle, Tx } from '@app/db';
import { ApiError } from '@app/http';
import { REDIS, RedisClient, RedisKeys } from '@app/redis';
import { Inject, Injectable } from '@nestjs/common';
import { budgetCounterField, reachedLevelField } from './detect/alert-record';
import { monthPeriodOf } from './projections';
import { BudgetScope } from './spend.repository';

export const DEFAULT_THRESHOLDS = [50, 75, 90, 100];

export interface BudgetRecord {
  id: string;
  account_id: string;
  scope: BudgetScope;
  scope_id: string | null;
  amount_micros: bigint;
  thresholds: number[];
  recipients: string[];
  created_at: Date;
  updated_at: Date;
}

export interface BudgetInput {
  amountMicros: bigint;
  thresholds?: number[];
  recipients?: string[];
}

export interface BudgetTarget {
  accountId: string;
  scope: BudgetScope;
  /** API key or project id; null for the account. */
  scopeId: string | null;
}

const COLUMNS =
  'id, account_id, scope, scope_id, amount_micros, thresholds, recipients, created_at, updated_at';

/**
 * Monthly budgets (calendar months, UTC) of an account, an API key or a project. Each change
 * commits with its audit row and touches the account's alert_settings row, which is how every
 * process's catalog cache learns to reload the account's budgets (libs/catalog), then announces.
 */
@Injectable()
export class BudgetsService {
  constructor(
    @Inject(DATABASE) private readonly database: DatabaseHandle,
    @Inject(REDIS) private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
    private readonly audit: AuditLogService,
    private readonly catalog: CatalogWriter,
  ) {}

  async list(accountId: string): Promise<BudgetRecord[]> {
    const { sql } = this.database;
    return sql<BudgetRecord[]>`
      select ${sql.unsafe(COLUMNS)} from budgets where account_id = ${accountId} order by scope, scope_id`;
  }

  /** Null when no budget is set for the target. */
  async get(target: BudgetTarget): Promise<BudgetRecord | null> {
    await this.checkTarget(this.database.sql, target);
    const { sql } = this.database;
    const [row] = await sql<BudgetRecord[]>`
      select ${sql.unsafe(COLUMNS)} from budgets
      where account_id = ${target.accountId} and scope = ${target.scope}
        and scope_id is not distinct from ${target.scopeId}::uuid`;
    return row ?? null;
  }

  async put(target: BudgetTarget, input: BudgetInput, actor: AuditActor): Promise<BudgetRecord> {
    const thresholds = normaliseThresholds(input.thresholds ?? DEFAULT_THRESHOLDS);
    const recipients = [...new Set((input.recipients ?? []).map((email) => email.trim().toLowerCase()))];
    if (input.amountMicros <= 0n) throw new ApiError(422, 'invalid_amount', 'amount must be more than 0');
    const saved = await this.database.sql.begin(async (tx) => {
      await this.checkTarget(tx, target);
      const [before] = await tx<BudgetRecord[]>`
        select ${tx.unsafe(COLUMNS)} from budgets
        where account_id = ${target.accountId} and scope = ${target.scope}
          and scope_id is not distinct from ${target.scopeId}::uuid for update`;
      const [after] = await tx<BudgetRecord[]>`
        insert into budgets (account_id, scope, scope_id, amount_micros, thresholds, recipients)
        values (${target.accountId}, ${target.scope}, ${target.scopeId}, ${input.amountMicros},
                ${thresholds}::int[], ${recipients}::text[])
        on conflict on constraint budgets_scope_key do update set amount_micros = excluded.amount_micros,
          thresholds = excluded.thresholds, recipients = excluded.recipients, updated_at = now()
        returning ${tx.unsafe(COLUMNS)}`;
      await this.touchRules(tx, target.accountId);
      await this.audit.record(tx, {
        accountId: target.accountId,
        actor,
        action: 'budget.set',
        targetType: 'budget',
        targetId: after.id,
        before: before ? auditView(before) : null,
        after: auditView(after),
      });
      return after;
    });
    await this.afterChange(target);
    return saved;
  }

  /** Idempotent: removing a budget that is not there changes nothing (and records nothing). */
  async delete(target: BudgetTarget, actor: AuditActor): Promise<void> {
    const deletedAny = await this.database.sql.begin(async (tx) => {
      await this.checkTarget(tx, target);
      const [deleted] = await tx<BudgetRecord[]>`
        delete from budgets where account_id = ${target.accountId} and scope = ${target.scope}
          and scope_id is not distinct from ${target.scopeId}::uuid
        returning ${tx.unsafe(COLUMNS)}`;
      if (!deleted) return false;
      await this.touchRules(tx, target.accountId);
      await this.audit.record(tx, {
        accountId: target.accountId,
        actor,
        action: 'budget.deleted',
        targetType: 'budget',
        targetId: deleted.id,
        before: auditView(deleted),
        after: null,
      });
      return true;
    });
    if (deletedAny) await this.afterChange(target);
  }

  /** The key or project must belong to the account (I7): another tenant's id answers like an unknown one. */
  private async checkTarget(sql: Tx | DatabaseHandle['sql'], target: BudgetTarget): Promise<void> {
    if (target.scope === 'account') return;
    const rows =
      target.scope === 'api_key'
        ? await sql`select 1 from api_keys where id = ${target.scopeId} and account_id = ${target.accountId}`
        : await sql`select 1 from projects where id = ${target.scopeId} and account_id = ${target.accountId}`;
    if (rows.length === 0) {
      throw target.scope === 'api_key'
        ? new ApiError(404, 'api_key_not_found', 'no such API key')
        : new ApiError(404, 'project_not_found', 'no such project');
    }
  }

  /** Catalog caches reload an account's alert rules when its alert_settings row changes. */
  private async touchRules(tx: Tx, accountId: string): Promise<void> {
    await tx`
      insert into alert_settings (account_id) values (${accountId})
      on conflict (account_id) do update set updated_at = now()`;
  }

  private async afterChange(target: BudgetTarget): Promise<void> {
    // The month counter is not kept while a scope has no budget: drop it so the next batch seeds
    // it from Postgres (spend of batches still pending at that moment is missed, by design rare).
    // Its level goes too: reseeded at the spend, the thresholds of the new amount the spend has
    // passed count as reached (no burst of alerts), the others alert when crossed (new dedupe
    // keys, with the amount). A worker that still has the old amount can only raise the level to
    // an old threshold's amount the spend has passed: it never hides a new threshold still ahead.
    const field = budgetCounterField(target.scope, target.scopeId, monthPeriodOf(new Date()).id);
    await this.redis.hdel(this.keys.balance(target.accountId), field, reachedLevelField(field));
    await this.catalog.announce();
  }
}

function normaliseThresholds(thresholds: number[]): number[] {
  const unique = [...new Set(thresholds)].sort((a, b) => a - b);
  if (
    unique.length === 0 ||
    unique.length > 10 ||
    unique.some((t) => !Number.isInteger(t) || t < 1 || t > 1000)
  ) {
    throw new ApiError(
      422,
      'invalid_thresholds',
      'thresholds must be 1 to 10 whole percents between 1 and 1000',
    );
  }
  return unique;
}

function auditView(row: BudgetRecord) {
  return {
    scope: row.scope,
    scope_id: row.scope_id,
    amount_micros: row.amount_micros,
    thresholds: row.thresholds,
    recipients: row.recipients,
  };
}
