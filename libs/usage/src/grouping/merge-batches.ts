import { RatedBatch } from '../meter-usage-batch.service';
import { RatedEvent } from '../usage-batch.repository';

/**
 * One group's events: its batches' in the order given (the group record's), each (account,
 * event id) once, the first. Deterministic, so an attempt that charges the group again after a
 * crash charges exactly what the first attempt deducted. Each event keeps its own received_at.
 */
export function mergeBatches(groupId: string, batches: readonly RatedBatch[]): RatedBatch {
  // Event ids by account: the ids' own strings as keys, no key string built per event.
  const seen = new Map<string, Set<string>>();
  const events: RatedEvent[] = [];
  for (const batch of batches) {
    for (const event of batch.events) {
      let ids = seen.get(event.accountId);
      if (!ids) seen.set(event.accountId, (ids = new Set()));
      if (ids.has(event.eventId)) continue;
      ids.add(event.eventId);
      events.push(event);
    }
  }
  return { batchId: groupId, events };
}
