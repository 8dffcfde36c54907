import { firstOfEach } from '../first-of-each';
import { RatedBatch } from '../meter-usage-batch.service';

/**
 * One group's events: its batches' in the order given (the group record's), each (account,
 * event id) once, the first. Deterministic, so an attempt that charges the group again after a
 * crash charges exactly what the first attempt deducted. Each event keeps its own received_at.
 */
export function mergeBatches(groupId: string, batches: readonly RatedBatch[]): RatedBatch {
  const events = firstOfEach(
    batches.flatMap((batch) => batch.events),
    (event) => `${event.accountId}\u0000${event.eventId}`,
  );
  return { batchId: groupId, events };
}
