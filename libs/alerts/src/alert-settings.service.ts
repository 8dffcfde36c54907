import { AuditActor, AuditLogService } from '@app/audit';
import { CatalogWriter } from '@app/catalog';
import { DATABASE, DatabaseHandle } from '@app/db';
import { ApiError } from '@app/http';
import { REDIS, RedisClient, RedisKeys } from '@app/redis';
import { Inject, Injectable } from '@nestjs/common';

export interface AlertSettingsRecord {
  account_id: string;
  low_balance_micros: bigint | null;
  non_essential_enabled: boolean;
  recipients: string[];
  updated_at: Date | null;
}

export interface AlertSettingsInput {
  lowBalanceMicros: bigint | null;
  nonEssentialEnabled: boolean;
  recipients: string[];
}

const COLUMNS = 'account_id, low_balance_micros, non_essential_enabled, recipients, updated_at';

/** Low-balance line, the non-essential switch and extra recipients of an account's alerts. */
@Injectable()
export class AlertSettingsService {
  constructor(
    @Inject(DATABASE) private readonly database: DatabaseHandle,
    @Inject(REDIS) private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
    private readonly audit: AuditLogService,
    private readonly catalog: CatalogWriter,
  ) {}

  async get(accountId: string): Promise<AlertSettingsRecord> {
    const { sql } = this.database;
    const [row] = await sql<AlertSettingsRecord[]>`
      select ${sql.unsafe(COLUMNS)} from alert_settings where account_id = ${accountId}`;
    return (
      row ?? {
        account_id: accountId,
        low_balance_micros: null,
        non_essential_enabled: true,
        recipients: [],
        updated_at: null,
      }
    );
  }

  async put(accountId: string, input: AlertSettingsInput, actor: AuditActor): Promise<AlertSettingsRecord> {
    if (input.lowBalanceMicros !== null && input.lowBalanceMicros < 0n) {
      throw new ApiError(422, 'invalid_low_balance', 'low_balance must be 0 or more, or null for none');
    }
    const recipients = [...new Set(input.recipients.map((email) => email.trim().toLowerCase()))];
    const lineChanged = await this.database.sql.begin(async (tx) => {
      const [before] = await tx<AlertSettingsRecord[]>`
        select ${tx.unsafe(COLUMNS)} from alert_settings where account_id = ${accountId} for update`;
      const [after] = await tx<AlertSettingsRecord[]>`
        insert into alert_settings (account_id, low_balance_micros, non_essential_enabled, recipients)
        values (${accountId}, ${input.lowBalanceMicros}, ${input.nonEssentialEnabled}, ${recipients}::text[])
        on conflict (account_id) do update set low_balance_micros = excluded.low_balance_micros,
          non_essential_enabled = excluded.non_essential_enabled, recipients = excluded.recipients, updated_at = now()
        returning ${tx.unsafe(COLUMNS)}`;
      await this.audit.record(tx, {
        accountId,
        actor,
        action: 'alert_settings.changed',
        targetType: 'account',
        targetId: accountId,
        before: before ? auditView(before) : null,
        after: auditView(after),
      });
      return (before?.low_balance_micros ?? null) !== after.low_balance_micros;
    });
    // A new line starts armed (reserve-change.lua `lowoff`): a balance already below it alerts on the next usage.
    if (lineChanged) await this.redis.hdel(this.keys.balance(accountId), 'lowoff');
    await this.catalog.announce();
    return this.get(accountId);
  }
}

function auditView(row: AlertSettingsRecord) {
  return {
    low_balance_micros: row.low_balance_micros,
    non_essential_enabled: row.non_essential_enabled,
    recipients: row.recipients,
  };
}
