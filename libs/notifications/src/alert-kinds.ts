/** The alert kinds (the `alert_kind` enum in libs/db), each with one set of email templates. */
export const ALERT_KINDS = [
  'budget_threshold',
  'low_balance',
  'auto_reload_succeeded',
  'auto_reload_declined',
  'auto_reload_action_required',
  'auto_reload_paused',
  'invoice_ready',
  'invoice_due',
  'invoice_overdue',
] as const;

export type AlertKind = (typeof ALERT_KINDS)[number];

/**
 * Kinds an owner may turn off (alert_settings.non_essential_enabled = false). Payment, auto-reload,
 * invoice and security notices are not in this list: they always go.
 */
export const NON_ESSENTIAL_KINDS: ReadonlySet<AlertKind> = new Set(['budget_threshold', 'low_balance']);

export function isAlertKind(value: unknown): value is AlertKind {
  return typeof value === 'string' && (ALERT_KINDS as readonly string[]).includes(value);
}
