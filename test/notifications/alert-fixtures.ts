import { AlertKind, SAMPLE_ALERT_DETAILS } from '@app/notifications';
import { randomUUID } from 'node:crypto';
import { BillingStack } from '../support/billing-stack';
import { waitFor } from '../support/wait-for';

/** An account with a billing email of its own, so each test reads only its own mail. */
export async function accountWithEmail(
  stack: BillingStack,
  label: string,
): Promise<{ id: string; email: string }> {
  const email = `${label}-${randomUUID().slice(0, 8)}@example.test`;
  const response = await stack.admin.post('/v1/admin/accounts', {
    name: `Acme ${label}`,
    email,
    tier: 'developer',
  });
  if (response.status !== 201)
    throw new Error(`create account: ${response.status} ${JSON.stringify(response.body)}`);
  return { id: response.body.id, email };
}

/**
 * Raises an alert the way libs/alerts does: one row in `alerts` (unique dedupe key). The worker's
 * sweep finds it (the suites run it every 250 ms with no grace period) and mails it.
 */
export async function raiseAlert(
  stack: BillingStack,
  accountId: string,
  kind: AlertKind,
  details: Record<string, unknown> = SAMPLE_ALERT_DETAILS[kind],
  dedupeKey = `${kind}:${accountId}:${randomUUID()}`,
): Promise<string> {
  const [row] = await stack.stores.sql<{ id: string }[]>`
    insert into alerts (account_id, kind, dedupe_key, details)
    values (${accountId}, ${kind}, ${dedupeKey}, ${stack.stores.sql.json(details as never)})
    returning id`;
  return row.id;
}

export interface DeliveryRecord {
  recipient: string;
  status: string;
  attempts: number;
  smtp_message_id: string | null;
  last_error: string | null;
  kind: string;
}

export async function deliveriesOf(stack: BillingStack, alertId: string): Promise<DeliveryRecord[]> {
  return stack.stores.sql<DeliveryRecord[]>`
    select recipient, status::text as status, attempts, smtp_message_id, last_error, kind
    from email_deliveries where alert_id = ${alertId} order by recipient`;
}

/** Waits until every delivery of the alert has left pending/sending (sent, failed or suppressed). */
export async function settledDeliveries(
  stack: BillingStack,
  alertId: string,
  count: number,
): Promise<DeliveryRecord[]> {
  return waitFor(
    () => deliveriesOf(stack, alertId),
    (rows) => rows.length === count && rows.every((row) => !['pending', 'sending'].includes(row.status)),
    { what: `${count} settled deliveries of alert ${alertId}` },
  );
}

/** The sweep settings that make the worker pick up inserted alerts at once. */
export const FAST_SWEEP = { ALERT_EMAIL_SWEEP_INTERVAL_MS: '250', ALERT_EMAIL_SWEEP_AGE_MS: '0' };
