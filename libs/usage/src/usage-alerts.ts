import { Tx } from '@app/db';
import { ChangeAlertRules } from '@app/ledger';
import { BudgetCounterRef } from './budget-counter-spend';
import { RatedEvent } from './usage-batch.repository';

/** One account's committed change of a batch, with what its reserve recorded for alerts. */
export interface CommittedAlertChange {
  accountId: string;
  /** reserve-change.lua's alert record of the attempt Postgres committed. */
  alertRecord: string;
  /** What Postgres committed for each budget counter in the record (field → micros): the batch without its duplicates. */
  counterSpend: ReadonlyMap<string, bigint>;
}

/** What `raise` did: the alerts inserted, and the counters whose recorded crossings it found not reached. */
export interface RaiseOutcome {
  raised: RaisedAlert[];
  /**
   * Budget counters per account whose crossings the committed spend does not reach (the batch's
   * duplicates made them): no alert now; settle lowers their level so a later batch crosses again.
   */
  unreached: ReadonlyMap<string, ReadonlySet<string>>;
}

export interface RaisedAlert {
  id: string;
  kind: string;
}

/**
 * Spending alerts found where the money moves (implemented by libs/alerts, provided by the
 * worker app under USAGE_ALERTS): budget counters and the low-balance line are checked in the
 * reserve Lua call, and the alerts of the committed attempt are inserted in the batch's own
 * transaction, so an uncommitted batch never alerts and a committed one always has its alerts.
 */
export interface UsageAlertHook {
  /** Detection arguments for one account's change; undefined when the account has no rules. */
  rulesFor(accountId: string, events: readonly RatedEvent[], now: Date): ChangeAlertRules | undefined;
  /** The budget counters an alert record says its change added to, to settle them with what Postgres committed. */
  countersOf(alertRecord: string): BudgetCounterRef[];
  /**
   * Inside the batch's transaction, after its ledger rows: inserts the alerts once (dedupe keys),
   * each budget crossing only if the spend without the batch's duplicates reaches it.
   */
  raise(tx: Tx, batchId: string, changes: readonly CommittedAlertChange[]): Promise<RaiseOutcome>;
  /** After the commit: hands the new alerts to the email worker (a sweep covers a crash before this). */
  dispatch(alerts: readonly RaisedAlert[]): Promise<void>;
}

export const USAGE_ALERTS = Symbol('USAGE_ALERTS');
