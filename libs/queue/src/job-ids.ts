import { randomUUID } from 'node:crypto';

/**
 * A usage batch id is minted once per accepted ingest request, before the job is added, and is
 * both the BullMQ job id and the change key of its balance changes; BullMQ redelivery keeps it.
 */
export function newUsageBatchId(): string {
  return randomUUID();
}

/**
 * The job id of an auto-reload crossing. BullMQ drops an add whose id it already holds, so each
 * crossing gets one job however often its batch is redelivered; the same value is the request
 * key of the purchase row and the Stripe idempotency key of its PaymentIntent, so the card is
 * charged at most once per crossing even after the job itself is gone. (BullMQ refuses ':' in
 * custom ids except for exactly three parts, which this is.)
 */
export function autoReloadJobId(accountId: string, crossing: number): string {
  return `auto-reload:${accountId}:${crossing}`;
}
