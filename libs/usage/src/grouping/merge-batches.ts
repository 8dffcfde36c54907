import { RatedBatch } from '../meter-usage-batch.service';

/**
 * One group's events: its batches' in the order given (the group record's), each (account,
 * event id) once, the first. Deterministic, so an attempt that charges the group again after a
 * crash charges exactly what the first attempt deducted. Each event keeps its own received_at.
 */
export function mergeBatches(groupId: string, batches: readonly RatedBatch[]): RatedBatch {
  const seen = new Set<string>();
  const events = batches.flatMap((batch) =>
    batch.events.filter((event) => {
      const key = `${event.accountId}\u0000${event.eventId}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    }),
  );
  return { batchId: groupId, events };
}
