import { v7 as uuidv7 } from 'uuid';

/**
 * A usage batch id is minted once per accepted ingest request, before the job is added, and is
 * both the BullMQ job id and the change key of its balance changes; BullMQ redelivery keeps it.
 *
 * Time-ordered (UUIDv7): a batch's usage ledger rows are keyed usage:<batch>:<account>, one per
 * account of the batch, so with time-ordered ids they land side by side where the unique index on
 * idempotency_key grows instead of on a random leaf each. The ledger gains about one row per two
 * events (bench mix), so that index outgrows memory within days at volume; from then on random
 * keys would read and dirty an index page per ledger row. (uuid 11: later majors are ESM-only,
 * which this CommonJS build and Jest cannot load.)
 */
export function newUsageBatchId(): string {
  return uuidv7();
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

/** The crossing named by autoReloadJobId's value (a job id, or an auto-reload purchase's request key). */
export function crossingOfAutoReloadJobId(jobId: string): number {
  return Number(jobId.split(':')[2]);
}

/**
 * The job id of an invoice's render: one job per invoice while it exists, however often the issuer
 * or the sweep schedules it. Dashes, not ':' (BullMQ refuses ':' unless exactly three parts).
 */
export function renderInvoiceJobId(invoiceId: string): string {
  return `render-invoice-${invoiceId}`;
}

/**
 * The job id of an alert's emails: one job per alert however often it is enqueued (by the code
 * that raised it, or by the sweep that finds alerts without deliveries). Deliveries are deduped
 * in Postgres by (dedupe key, recipient), so a job added again after this one is gone sends nothing new.
 */
export function alertEmailJobId(alertId: string): string {
  return `alert-email-${alertId}`;
}

/**
 * The job id of an invoice export's zip build: one job per export while it exists, however often
 * the API re-queues a pending export. The zip's object key is fixed by the export id as well.
 */
export function invoiceExportJobId(exportId: string): string {
  return `invoice-export-${exportId}`;
}
