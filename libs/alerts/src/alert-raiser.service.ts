import { DATABASE, DatabaseHandle, Sql, Tx } from '@app/db';
import { BillingMetrics } from '@app/metrics';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { AlertDetailsByKind, AlertKind } from './alert-details';
import { AlertMailer } from './alert-mailer.service';

export interface NewAlert<K extends AlertKind = AlertKind> {
  accountId: string;
  kind: K;
  /** Names (account, kind, threshold, period or crossing): the same alert raised again inserts nothing. */
  dedupeKey: string;
  details: AlertDetailsByKind[K];
}

export interface RaisedAlert {
  id: string;
  kind: string;
}

/**
 * Inserts alerts once per dedupe key, in the caller's transaction (so an alert exists exactly
 * when the change it reports committed), and hands the new ones to the email worker after the
 * commit. If the process dies between the two, the email worker's sweep enqueues any alert that
 * has no delivery after a minute.
 */
@Injectable()
export class AlertRaiser {
  private readonly logger = new Logger(AlertRaiser.name);

  constructor(
    private readonly metrics: BillingMetrics,
    private readonly mailer: AlertMailer,
    @Inject(DATABASE) private readonly database: DatabaseHandle,
  ) {}

  /** The new alert (null if its dedupe key was raised before). Call `dispatch` after the commit. */
  async raise<K extends AlertKind>(tx: Tx | Sql, alert: NewAlert<K>): Promise<RaisedAlert | null> {
    const [raised] = await this.raiseMany(tx, [alert]);
    return raised ?? null;
  }

  /** The alerts that were new; a dedupe key seen before (a retry, a concurrent worker) adds nothing. */
  async raiseMany(tx: Tx | Sql, alerts: readonly NewAlert[]): Promise<RaisedAlert[]> {
    if (alerts.length === 0) return [];
    return tx<RaisedAlert[]>`
      insert into alerts (account_id, kind, dedupe_key, details)
      select t.account_id, t.kind::alert_kind, t.dedupe_key, t.details::jsonb
      from unnest(${alerts.map((a) => a.accountId)}::uuid[], ${alerts.map((a) => a.kind)}::text[],
                  ${alerts.map((a) => a.dedupeKey)}::text[], ${alerts.map((a) => JSON.stringify(a.details))}::text[])
           as t(account_id, kind, dedupe_key, details)
      on conflict (dedupe_key) do nothing
      returning id, kind::text as kind`;
  }

  /** After the raising transaction committed: count them and enqueue their emails. Never throws. */
  async dispatch(alerts: readonly (RaisedAlert | null)[]): Promise<void> {
    const raised = alerts.filter((alert): alert is RaisedAlert => alert !== null);
    if (raised.length === 0) return;
    for (const alert of raised) this.metrics.alertsRaised.inc({ kind: alert.kind });
    try {
      await this.mailer.enqueue(raised.map((alert) => alert.id));
    } catch (error) {
      // The alerts are committed; the email sweep enqueues them within a minute or so.
      this.logger.warn(`could not enqueue alert emails (the sweep will): ${error}`);
    }
  }

  /**
   * For alerts raised inside a transaction someone else commits (observers): dispatches each one
   * once it is visible, i.e. committed, checking every 200 ms for up to 30 s. A rolled-back alert
   * never shows and is never mailed; a crash or a slower commit leaves it to the email sweep.
   */
  dispatchAfterCommit(alerts: readonly (RaisedAlert | null)[]): void {
    let waiting = alerts.filter((alert): alert is RaisedAlert => alert !== null);
    if (waiting.length === 0) return;
    const deadline = Date.now() + 30_000;
    const check = async (): Promise<void> => {
      const rows = await this.database.sql<{ id: string }[]>`
        select id from alerts where id = any(${waiting.map((alert) => alert.id)}::uuid[])`;
      const visible = new Set(rows.map((row) => row.id));
      await this.dispatch(waiting.filter((alert) => visible.has(alert.id)));
      waiting = waiting.filter((alert) => !visible.has(alert.id));
      if (waiting.length > 0 && Date.now() < deadline) schedule();
    };
    const schedule = () =>
      setTimeout(
        () => void check().catch((error) => this.logger.warn(`alert dispatch check failed: ${error}`)),
        200,
      ).unref();
    schedule();
  }
}
