import { DATABASE, DatabaseHandle } from '@app/db';
import { Inject, Injectable } from '@nestjs/common';
import { AlertKind } from './alert-kinds';

export interface AlertToMail {
  id: string;
  account_id: string;
  kind: AlertKind;
  dedupe_key: string;
  details: Record<string, unknown>;
  raised_at: Date;
  account_name: string;
  billing_email: string;
  non_essential_enabled: boolean;
  settings_recipients: string[];
}

export type DeliveryStatus = 'pending' | 'sending' | 'sent' | 'failed' | 'suppressed';

export interface DeliveryRow {
  id: string;
  recipient: string;
  status: DeliveryStatus;
  attempts: number;
  updated_at: Date;
}

export type ClaimResult = 'claimed' | 'over_limit' | 'taken';

/**
 * The rows of `email_deliveries`: one per (alert dedupe key, recipient), the record of what was
 * mailed. Every status change is a conditional update on the current status, so two workers that
 * hold the same job (a stalled-job redelivery) never both send a row.
 */
@Injectable()
export class EmailDeliveriesRepository {
  constructor(@Inject(DATABASE) private readonly database: DatabaseHandle) {}

  async loadAlert(alertId: string): Promise<AlertToMail | null> {
    const rows = await this.database.sql<AlertToMail[]>`
      select a.id, a.account_id, a.kind, a.dedupe_key, a.details, a.raised_at,
             acc.name as account_name, acc.billing_email,
             coalesce(s.non_essential_enabled, true) as non_essential_enabled,
             coalesce(s.recipients, '{}'::text[]) as settings_recipients
      from alerts a
      join accounts acc on acc.id = a.account_id
      left join alert_settings s on s.account_id = a.account_id
      where a.id = ${alertId}`;
    return rows[0] ?? null;
  }

  /** The extra recipients of a budget of this account (tenant-checked); empty when it is gone. */
  async budgetRecipients(accountId: string, budgetId: string): Promise<string[]> {
    const rows = await this.database.sql<{ recipients: string[] }[]>`
      select recipients from budgets where id = ${budgetId} and account_id = ${accountId}`;
    return rows[0]?.recipients ?? [];
  }

  /** Inserts a pending row per recipient unless one exists, and returns every row of the alert's recipients. */
  async ensureDeliveries(alert: AlertToMail, recipients: string[]): Promise<DeliveryRow[]> {
    await this.database.sql`
      insert into email_deliveries (account_id, alert_id, kind, dedupe_key, recipient)
      select ${alert.account_id}, ${alert.id}, ${alert.kind}, ${alert.dedupe_key}, recipient
      from unnest(${recipients}::text[]) as recipient
      on conflict (dedupe_key, recipient) do nothing`;
    return this.database.sql<DeliveryRow[]>`
      select id, recipient, status, attempts, updated_at from email_deliveries
      where dedupe_key = ${alert.dedupe_key} and recipient = any(${recipients}::text[])
      order by recipient`;
  }

  /** Pending rows become suppressed (opted out); returns how many. */
  async suppressPending(ids: string[], reason: string): Promise<number> {
    const rows = await this.database.sql`
      update email_deliveries set status = 'suppressed', last_error = ${reason}, updated_at = now()
      where id = any(${ids}::uuid[]) and status = 'pending'
      returning id`;
    return rows.length;
  }

  /**
   * Marks a pending row `sending` (attempts + 1) if the account is under its hourly limit, else
   * `suppressed`. Under a per-account advisory lock, so concurrent jobs of one account count
   * each other's sends and the limit holds exactly.
   */
  async claim(accountId: string, deliveryId: string, hourlyLimit: number): Promise<ClaimResult> {
    return this.database.sql.begin(async (tx) => {
      await tx`select pg_advisory_xact_lock(hashtext('alert-email:' || ${accountId}::text))`;
      const [{ n }] = await tx<{ n: number }[]>`
        select count(*)::int as n from email_deliveries
        where account_id = ${accountId} and id <> ${deliveryId} and status in ('sending', 'sent')
          and coalesce(sent_at, updated_at) > now() - interval '1 hour'`;
      if (n >= hourlyLimit) {
        const rows = await tx`
          update email_deliveries
          set status = 'suppressed', updated_at = now(),
              last_error = ${`over the limit of ${hourlyLimit} emails per account per hour`}
          where id = ${deliveryId} and status = 'pending' returning id`;
        return rows.length > 0 ? 'over_limit' : 'taken';
      }
      const rows = await tx`
        update email_deliveries set status = 'sending', attempts = attempts + 1, updated_at = now()
        where id = ${deliveryId} and status = 'pending' returning id`;
      return rows.length > 0 ? 'claimed' : 'taken';
    });
  }

  async markSent(deliveryId: string, smtpMessageId: string, response: string): Promise<void> {
    await this.database.sql`
      update email_deliveries
      set status = 'sent', smtp_message_id = ${smtpMessageId}, last_error = ${response.slice(0, 500) || null},
          sent_at = now(), updated_at = now()
      where id = ${deliveryId} and status = 'sending'`;
  }

  /** After a failed SMTP attempt: back to pending (retried) or failed for good. */
  async markAttemptFailed(deliveryId: string, permanent: boolean, error: string): Promise<void> {
    await this.database.sql`
      update email_deliveries
      set status = ${permanent ? 'failed' : 'pending'}, last_error = ${error.slice(0, 500)}, updated_at = now()
      where id = ${deliveryId} and status = 'sending'`;
  }

  /**
   * A row left `sending` longer than `staleMs`: its worker died during or right after the SMTP
   * send, so the email may have arrived. It is closed as failed and never sent again.
   */
  async closeInterrupted(deliveryId: string, staleMs: number): Promise<boolean> {
    const rows = await this.database.sql`
      update email_deliveries
      set status = 'failed', updated_at = now(),
          last_error = 'interrupted: the worker stopped during the SMTP send; not resent, it may have been delivered'
      where id = ${deliveryId} and status = 'sending'
        and updated_at < now() - make_interval(secs => ${staleMs / 1000})
      returning id`;
    return rows.length > 0;
  }

  /**
   * Alerts raised in the last 7 days, at least `ageMs` ago, that have no delivery yet (the raiser
   * died before enqueuing) or still have a pending or sending one untouched for `ageMs` (their job
   * gave up during a long SMTP outage, or its worker died).
   */
  async alertsToSweep(ageMs: number, limit: number): Promise<string[]> {
    const age = ageMs / 1000;
    const rows = await this.database.sql<{ id: string }[]>`
      select a.id from alerts a
      where a.raised_at > now() - interval '7 days'
        and a.raised_at < now() - make_interval(secs => ${age})
        and (
          not exists (select 1 from email_deliveries d where d.dedupe_key = a.dedupe_key)
          or exists (
            select 1 from email_deliveries d
            where d.dedupe_key = a.dedupe_key and d.status in ('pending', 'sending')
              and d.updated_at < now() - make_interval(secs => ${age}))
        )
      order by a.raised_at
      limit ${limit}`;
    return rows.map((row) => row.id);
  }
}
