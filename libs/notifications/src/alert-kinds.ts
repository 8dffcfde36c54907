import { alertKind } from '@app/db';

/** The alert kinds (the `alert_kind` enum in libs/db), each with one set of email templates. */
export const ALERT_KINDS = alertKind.enumValues;

export type AlertKind = (typeof ALERT_KINDS)[number];

/**
 * Kinds an owner may turn off (alert_settings.non_essential_enabled = false). Payment, auto-reload,
 * invoice and security notices are not in this list: they always go.
 */
export const NON_ESSENTIAL_KINDS: ReadonlySet<AlertKind> = new Set(['budget_threshold', 'low_balance']);

export function isAlertKind(value: unknown): value is AlertKind {
  return typeof value === 'string' && (ALERT_KINDS as readonly string[]).includes(value);
}
