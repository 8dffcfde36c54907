import { Sql, Tx } from '@app/db';
import type Stripe from 'stripe';

/**
 * What handling an event did: `handled` applied it (or found its effect already there), `ignored`
 * found nothing of ours to change, `duplicate` lost the race to a parallel delivery of the same event.
 */
export interface EventOutcome {
  kind: 'handled' | 'ignored' | 'duplicate';
  /** For ops, stored in stripe_events.outcome. */
  detail: string;
  /** True when the handler already inserted the stripe_events row inside its effect's transaction. */
  recorded: boolean;
}

export const handled = (detail: string, recorded = false): EventOutcome => ({
  kind: 'handled',
  detail,
  recorded,
});
export const ignored = (detail: string): EventOutcome => ({ kind: 'ignored', detail, recorded: false });
export const duplicate = (detail: string): EventOutcome => ({ kind: 'duplicate', detail, recorded: true });

export async function isStripeEventHandled(sql: Sql, eventId: string): Promise<boolean> {
  const rows = await sql`select 1 from stripe_events where id = ${eventId}`;
  return rows.length > 0;
}

/**
 * Marks an event handled. Called in the transaction of the event's effect, so the event is
 * recorded exactly when its effect commits (I5); false when a parallel delivery recorded it first.
 */
export async function recordStripeEvent(
  sql: Sql | Tx,
  event: Pick<Stripe.Event, 'id' | 'type'>,
  outcome: string,
): Promise<boolean> {
  const rows = await sql`
    insert into stripe_events (id, type, outcome) values (${event.id}, ${event.type}, ${outcome})
    on conflict (id) do nothing
    returning id`;
  return rows.length === 1;
}

/** The id of the object an event is about (a snapshot: handlers re-read the object itself). */
export function eventObjectId(event: Stripe.Event): string {
  const { id } = event.data.object as { id?: unknown };
  if (typeof id !== 'string') throw new Error(`event ${event.id} (${event.type}) has no object id`);
  return id;
}

export function idOf(value: string | { id: string } | null | undefined): string | null {
  if (!value) return null;
  return typeof value === 'string' ? value : value.id;
}
