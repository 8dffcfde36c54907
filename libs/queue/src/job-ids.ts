import { randomUUID } from 'node:crypto';

/**
 * A usage batch id is minted once per accepted ingest request, before the job is added, and is
 * both the BullMQ job id and the change key of its balance changes; BullMQ redelivery keeps it.
 */
export function newUsageBatchId(): string {
  return randomUUID();
}
