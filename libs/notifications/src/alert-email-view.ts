import { parseUsd } from '@app/money';
import { AlertKind } from './alert-kinds';

/**
 * Turns an alert's `details` (libs/alerts alert-details.ts: amounts as USD decimal strings with
 * six decimals, times as ISO strings) into the strings the templates print. Every figure is
 * formatted here, from exact micros: the templates do no arithmetic.
 *
 * Display rounding: amounts are shown in whole cents, rounded half up (away from zero) from the
 * exact micros; a non-zero amount under one cent is shown with up to six decimals instead of
 * "$0.00". Percentages are shown as given, or computed in integer micros and rounded half up.
 */

type Details = Record<string, unknown>;

export interface ProjectionView {
  balance: string | null;
  burnRate24h: string | null;
  burnRate7d: string | null;
  /** At the 7-day rate: a date, "Now" or "Not at this rate …". */
  runsOut: string;
  /** "in about 4 days", or null when runsOut is not a future date. */
  runsOutIn: string | null;
  /** At the 24-hour rate. */
  runsOut24h: string;
  runsOut24hIn: string | null;
  monthToDate: string | null;
  monthEnd: string | null;
  budget: string | null;
  /** "92% of the $500.00 budget" or "$40.00 over the $500.00 budget". */
  monthEndVsBudget: string | null;
  overBudget: boolean;
}

export interface Tone {
  label: string;
  /** Accent (bar, badge text). */
  color: string;
  /** Badge background. */
  tint: string;
}

export interface AlertEmailView {
  kind: AlertKind;
  tone: Tone;
  [field: string]: unknown;
  projection: ProjectionView | null;
}

const TONES: Record<'info' | 'success' | 'warning' | 'critical', Tone> = {
  info: { label: 'Notice', color: '#2563eb', tint: '#eff6ff' },
  success: { label: 'Success', color: '#15803d', tint: '#f0fdf4' },
  warning: { label: 'Warning', color: '#b45309', tint: '#fffbeb' },
  critical: { label: 'Action needed', color: '#b91c1c', tint: '#fef2f2' },
};

const KIND_TONE: Record<AlertKind, keyof typeof TONES> = {
  budget_threshold: 'warning',
  low_balance: 'warning',
  auto_reload_succeeded: 'success',
  auto_reload_declined: 'critical',
  auto_reload_action_required: 'critical',
  auto_reload_paused: 'critical',
  invoice_ready: 'info',
  invoice_due: 'info',
  invoice_overdue: 'critical',
};

/** A USD decimal string or integer micros (number, bigint, digit string under a `*_micros` key) as micros. */
export function toMicros(value: unknown, isMicros = false): bigint | null {
  if (value === null || value === undefined || value === '') return null;
  if (typeof value === 'bigint') return value;
  if (isMicros && (typeof value === 'number' || typeof value === 'string') && /^-?\d+$/.test(String(value)))
    return BigInt(value);
  if (typeof value === 'string') {
    try {
      return parseUsd(value);
    } catch {
      return null;
    }
  }
  return null;
}

/** "$1,234.57": half up to the cent; under a cent, up to six decimals ("$0.00042"). */
export function formatMoney(micros: bigint): string {
  const negative = micros < 0n;
  const abs = negative ? -micros : micros;
  let body: string;
  if (abs > 0n && abs < 5_000n) {
    body = `0.${abs.toString().padStart(6, '0').replace(/0+$/, '')}`;
  } else {
    const cents = (abs + 5_000n) / 10_000n;
    const whole = (cents / 100n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
    body = `${whole}.${(cents % 100n).toString().padStart(2, '0')}`;
  }
  return `${negative ? '-' : ''}$${body}`;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const LONG_MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];

function toDate(value: unknown): Date | null {
  if (value instanceof Date) return value;
  if (typeof value !== 'string' && typeof value !== 'number') return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** "Nov 30, 2026" (UTC). */
export function formatDate(date: Date): string {
  return `${MONTHS[date.getUTCMonth()]} ${date.getUTCDate()}, ${date.getUTCFullYear()}`;
}

/** "Nov 30, 2026, 23:05 UTC". */
export function formatDateTime(date: Date): string {
  const hh = String(date.getUTCHours()).padStart(2, '0');
  const mm = String(date.getUTCMinutes()).padStart(2, '0');
  return `${formatDate(date)}, ${hh}:${mm} UTC`;
}

function relative(from: Date, to: Date): string {
  const hours = (to.getTime() - from.getTime()) / 3_600_000;
  if (hours < 1) return 'within the hour';
  if (hours < 48) return `in about ${Math.round(hours)} hour${Math.round(hours) === 1 ? '' : 's'}`;
  return `in about ${Math.round(hours / 24)} days`;
}

/** Reads the first of `names` that is present, as money; `<name>_micros` keys count as micros. */
function money(details: Details | undefined, ...names: string[]): string | null {
  const micros = moneyMicros(details, ...names);
  return micros === null ? null : formatMoney(micros);
}

function moneyMicros(details: Details | undefined, ...names: string[]): bigint | null {
  if (!details) return null;
  for (const name of names) {
    const value = toMicros(details[name]) ?? toMicros(details[`${name}_micros`], true);
    if (value !== null) return value;
  }
  return null;
}

function text(details: Details | undefined, ...names: string[]): string | null {
  for (const name of names) {
    const value = details?.[name];
    if (typeof value === 'string' && value.trim()) return value.trim();
    if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  }
  return null;
}

function object(details: Details | undefined, name: string): Details | undefined {
  const value = details?.[name];
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Details) : undefined;
}

/**
 * A percent as given ("99.96" -> "99.96%"): percent_used is already rounded by libs/alerts
 * percentUsed, and rounding it again here would show 99.96 % as "100.0%".
 */
function percentText(value: string | null): string | null {
  if (value === null || !/^\d+(\.\d+)?$/.test(value)) return null;
  return `${value}%`;
}

/** Whole percent of part/whole, half up, in integers. */
function wholePercent(part: bigint, whole: bigint): number {
  return Number((part * 200n + whole) / (2n * whole));
}

function projectionView(details: Details, asOf: Date): ProjectionView | null {
  const p = object(details, 'projection');
  if (!p) return null;
  const budget = moneyMicros(p, 'budget', 'budget_amount') ?? moneyMicros(details, 'budget', 'budget_amount');
  const monthEnd = moneyMicros(p, 'projected_month_end_spend', 'month_end_spend');
  const perDay = (micros: bigint | null) => (micros === null ? null : `${formatMoney(micros)} / day`);
  const now = toDate(p.as_of) ?? asOf;
  const burnRate24h = moneyMicros(p, 'burn_rate_24h');
  const burnRate7d = moneyMicros(p, 'burn_rate_7d');
  // B1's projection: null means nothing was spent in that window, or the balance lasts more than
  // 100 years at its rate; the burn rate beside it tells which.
  const runsOut = (value: unknown, window: string, rate: bigint | null): [string, string | null] => {
    const at = toDate(value);
    if (!at)
      return [
        rate !== null && rate > 0n
          ? 'Not at this rate (more than 100 years away)'
          : `Not at this rate (no spend in ${window})`,
        null,
      ];
    return at <= now ? ['Now', null] : [formatDateTime(at), relative(now, at)];
  };
  const [runsOut7d, runsOut7dIn] = runsOut(p.runs_out_at, 'the last 7 days', burnRate7d);
  const [runsOut24h, runsOut24hIn] = runsOut(p.runs_out_at_24h, 'the last 24 hours', burnRate24h);
  let monthEndVsBudget: string | null = null;
  let overBudget = false;
  if (budget !== null && budget > 0n && monthEnd !== null) {
    overBudget = monthEnd > budget;
    monthEndVsBudget = overBudget
      ? `${formatMoney(monthEnd - budget)} over the ${formatMoney(budget)} budget`
      : `${wholePercent(monthEnd, budget)}% of the ${formatMoney(budget)} budget`;
  }
  return {
    balance: money(p, 'balance') ?? money(details, 'balance'),
    burnRate24h: perDay(burnRate24h),
    burnRate7d: perDay(burnRate7d),
    runsOut: runsOut7d,
    runsOutIn: runsOut7dIn,
    runsOut24h,
    runsOut24hIn,
    monthToDate: money(p, 'month_to_date_spend', 'spend_this_month', 'period_spend'),
    monthEnd: monthEnd === null ? null : formatMoney(monthEnd),
    budget: budget === null ? null : formatMoney(budget),
    monthEndVsBudget,
    overBudget,
  };
}

function cardText(details: Details): string | null {
  const card = object(details, 'card') ?? object(details, 'payment_method');
  const brand = text(card, 'brand') ?? text(details, 'card_brand');
  const last4 = text(card, 'last4') ?? text(details, 'card_last4');
  if (!last4) return null;
  const name = brand ? brand.charAt(0).toUpperCase() + brand.slice(1) : 'Card';
  return `${name} ending in ${last4}`;
}

function periodText(details: Details): string | null {
  const period = text(details, 'period');
  const match = period ? /^(\d{4})-(\d{2})/.exec(period) : null;
  if (match) return `${LONG_MONTHS[Number(match[2]) - 1]} ${match[1]}`;
  const start = toDate(details.period_start);
  return start ? `${LONG_MONTHS[start.getUTCMonth()]} ${start.getUTCFullYear()}` : period;
}

function scopeText(details: Details): string {
  const scope = text(details, 'scope') ?? 'account';
  const name = text(details, 'scope_name', 'api_key_name', 'project_name');
  if (scope === 'api_key') return name ? `API key “${name}”` : 'an API key';
  if (scope === 'project') return name ? `project “${name}”` : 'a project';
  return 'your account';
}

/** "insufficient_funds" -> "insufficient funds". */
function humanize(code: string | null): string | null {
  return code ? code.replace(/_/g, ' ') : null;
}

function capitalize(value: string | null): string | null {
  return value ? value.charAt(0).toUpperCase() + value.slice(1) : null;
}

function dateOf(details: Details, ...names: string[]): string | null {
  for (const name of names) {
    const date = toDate(details[name]);
    if (date) return formatDate(date);
  }
  return null;
}

/** The formatted fields of an alert email; every kind's templates read only these. */
export function alertEmailView(kind: AlertKind, details: Details, raisedAt: Date): AlertEmailView {
  const budgetMicros = moneyMicros(details, 'budget', 'budget_amount');
  const spendMicros = moneyMicros(details, 'spend', 'period_spend', 'spent');
  const givenPercent = text(details, 'percent_used', 'percent');
  const percentUsed =
    percentText(givenPercent) ??
    (budgetMicros && spendMicros !== null ? `${wholePercent(spendMicros, budgetMicros)}%` : null);
  const percentNumber =
    givenPercent !== null
      ? Number(givenPercent)
      : budgetMicros && spendMicros !== null
        ? wholePercent(spendMicros, budgetMicros)
        : 0;
  const consecutive = text(details, 'consecutive_failures', 'failures');
  return {
    kind,
    tone: TONES[KIND_TONE[kind]],
    raisedAt: formatDateTime(raisedAt),
    // Budgets
    scope: scopeText(details),
    period: periodText(details),
    thresholdPercent: text(details, 'threshold_percent', 'threshold_pct'),
    thresholdText: percentText(text(details, 'threshold_percent', 'threshold_pct')),
    budget: budgetMicros === null ? null : formatMoney(budgetMicros),
    spend: spendMicros === null ? null : formatMoney(spendMicros),
    remaining:
      budgetMicros !== null && spendMicros !== null && budgetMicros > spendMicros
        ? formatMoney(budgetMicros - spendMicros)
        : null,
    percentUsed,
    /** Width of the progress bar, 0-100. */
    barPercent: Math.max(0, Math.min(100, Math.round(Number.isFinite(percentNumber) ? percentNumber : 0))),
    // Balance and auto-reload
    balance: money(details, 'balance', 'balance_after'),
    threshold: kind === 'budget_threshold' ? null : money(details, 'threshold'),
    rearmAt: money(details, 'rearm_at'),
    amount: money(details, 'amount', 'reload_amount'),
    card: cardText(details),
    declineReason: humanize(text(details, 'decline_code', 'failure_code')),
    /** The same, for a table cell. */
    declineReasonLabel: capitalize(humanize(text(details, 'decline_code', 'failure_code'))),
    failureMessage: text(details, 'failure_message', 'message'),
    consecutiveFailures: consecutive,
    /** auto_reload_paused raised by a disputed charge rather than failed reloads. */
    pausedForDispute: text(details, 'reason') === 'dispute',
    disputedAmount: money(details, 'disputed_amount'),
    // Invoices
    invoiceNumber: text(details, 'invoice_number', 'number'),
    total: money(details, 'total', 'amount'),
    tax: money(details, 'tax'),
    amountDue: money(details, 'amount_due', 'total', 'amount'),
    issuedOn: dateOf(details, 'issued_at', 'issued_on'),
    dueOn: dateOf(details, 'due_at', 'due_on', 'due_date'),
    daysUntilDue: text(details, 'days_until_due'),
    daysOverdue: text(details, 'days_overdue'),
    purchaseOrder: text(details, 'purchase_order', 'po_number'),
    invoicePeriod: periodText(details),
    url: text(details, 'url', 'invoice_url', 'pdf_url'),
    projection: projectionView(details, raisedAt),
  };
}
