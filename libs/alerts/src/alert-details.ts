import { formatUsd } from '@app/money';
import { Projection } from './projections';

/**
 * The `details` jsonb of each alert kind: everything its email states (libs/notifications renders
 * from kind + details + account name). Money is a USD decimal string with six decimals
 * ("387.600000"), instants are ISO 8601 in UTC, periods are calendar months in UTC ("2026-11").
 */

/** The account's projection at the moment the alert was raised (libs/alerts/src/projections.ts). */
export interface ProjectionDetails {
  /** Balance the projection starts from. */
  balance: string;
  /** Usage per day over the last 24 hours. */
  burn_rate_24h: string;
  /** Usage per day over the last 7 days (7-day usage / 7, rounded half up). */
  burn_rate_7d: string;
  /**
   * When the balance runs out at the 7-day rate; null when nothing was spent in 7 days or that is
   * more than 100 years away.
   */
  runs_out_at: string | null;
  /** At the 24-hour rate; null when nothing was spent in 24 hours or more than 100 years away. */
  runs_out_at_24h: string | null;
  /** Usage charged this UTC month so far. */
  month_to_date_spend: string;
  /** Month-to-date spend + 7-day rate x days left in the month. */
  projected_month_end_spend: string;
  /** The account's monthly budget; null without one. */
  budget: string | null;
  as_of: string;
}

export interface BudgetThresholdDetails {
  budget_id: string;
  scope: 'account' | 'api_key' | 'project';
  /** The API key or project id; null for the account budget. */
  scope_id: string | null;
  /** The API key's or project's name; null for the account budget. */
  scope_name: string | null;
  /** "YYYY-MM", UTC. */
  period: string;
  /** The threshold crossed, whole percent (50, 75, 90, 100 by default). */
  threshold_percent: number;
  budget: string;
  /** Spend of this budget's scope in the period right after the crossing. */
  spend: string;
  /** spend / budget in percent, two decimals, rounded half up ("77.52"). */
  percent_used: string;
  /** For scoped budgets the projection's figures are the account's. */
  projection: ProjectionDetails;
}

export interface LowBalanceDetails {
  /** Balance right after the change that crossed the line. */
  balance: string;
  /** alert_settings.low_balance_micros. */
  threshold: string;
  /** The balance must recover to this before another low-balance alert can fire (hysteresis). */
  rearm_at: string;
  projection: ProjectionDetails;
}

export interface CardDetails {
  brand: string | null;
  last4: string | null;
}

interface AutoReloadBase {
  purchase_id: string;
  /** Credits the reload buys (tax excluded). */
  amount: string;
  /** Balance when the outcome was recorded. */
  balance: string;
  /** The auto-reload threshold; null if it was turned off meanwhile. */
  threshold: string | null;
  card: CardDetails;
  /** Which crossing of the threshold this reload answers. */
  crossing: number;
  projection: ProjectionDetails;
}

export type AutoReloadSucceededDetails = AutoReloadBase;

export interface AutoReloadDeclinedDetails extends AutoReloadBase {
  decline_code: string | null;
  failure_message: string | null;
  consecutive_failures: number;
}

export type AutoReloadActionRequiredDetails = AutoReloadBase;

/** Paused by the failed reload that was the third in a row. */
export interface AutoReloadFailurePausedDetails extends AutoReloadBase {
  /** Absent on alerts raised before dispute pauses were mailed: those are all failure pauses. */
  reason?: 'failures';
  consecutive_failures: number;
  decline_code: string | null;
  failure_message: string | null;
}

/** Paused because a charge was disputed (FlagDisputeService); no reload was involved. */
export interface AutoReloadDisputePausedDetails {
  reason: 'dispute';
  dispute_id: string;
  /** Our purchase the disputed charge paid; null when none of ours matches it. */
  purchase_id: string | null;
  /** Null when Stripe states the dispute in a currency other than USD. */
  disputed_amount: string | null;
  /** The disputed card. */
  card: CardDetails;
  /** What each reload buys once resumed. */
  amount: string;
  /** Balance when the pause was recorded. */
  balance: string;
  threshold: string;
  projection: ProjectionDetails;
}

export type AutoReloadPausedDetails = AutoReloadFailurePausedDetails | AutoReloadDisputePausedDetails;

/** Invoice alerts are raised by the invoices work through AlertRaiser.raise. */
export interface InvoiceAlertDetails {
  invoice_id: string;
  invoice_number: string;
  total: string;
  currency: string;
  issued_at: string;
  purchase_order?: string | null;
  /** Where the PDF can be downloaded; null when it is attached. */
  url: string | null;
  [extra: string]: unknown;
}

export interface AlertDetailsByKind {
  budget_threshold: BudgetThresholdDetails;
  low_balance: LowBalanceDetails;
  auto_reload_succeeded: AutoReloadSucceededDetails;
  auto_reload_declined: AutoReloadDeclinedDetails;
  auto_reload_action_required: AutoReloadActionRequiredDetails;
  auto_reload_paused: AutoReloadPausedDetails;
  invoice_ready: InvoiceAlertDetails & { tax: string; due_at: string | null };
  invoice_due: InvoiceAlertDetails & { amount_due: string; due_at: string; days_until_due: number };
  invoice_overdue: InvoiceAlertDetails & { amount_due: string; due_at: string; days_overdue: number };
}

export type AlertKind = keyof AlertDetailsByKind;

export function projectionDetails(projection: Projection, budgetMicros: bigint | null): ProjectionDetails {
  return {
    balance: formatUsd(projection.balanceMicros),
    burn_rate_24h: formatUsd(projection.burnRate24hMicros),
    burn_rate_7d: formatUsd(projection.burnRate7dMicros),
    runs_out_at: projection.runsOutAt?.toISOString() ?? null,
    runs_out_at_24h: projection.runsOutAt24h?.toISOString() ?? null,
    month_to_date_spend: formatUsd(projection.monthToDateMicros),
    projected_month_end_spend: formatUsd(projection.projectedMonthEndMicros),
    budget: budgetMicros === null ? null : formatUsd(budgetMicros),
    as_of: projection.asOf.toISOString(),
  };
}
