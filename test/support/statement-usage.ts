import { randomUUID } from 'node:crypto';
import { BillingStack } from './billing-stack';
import { Workspace } from './workspace';

// Money and calendar computed here, independently of the product code.
export const CENT = 10_000n;
export const DAY = 86_400_000;
export const monthStart = (ms: number, monthsLater = 0) =>
  Date.UTC(new Date(ms).getUTCFullYear(), new Date(ms).getUTCMonth() + monthsLater, 1);
export const monthOf = (ms: number) => new Date(ms).toISOString().slice(0, 7);
export const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);
export const centsHalfUp = (micros: bigint) => ((micros + CENT / 2n) / CENT) * CENT;
export const usd = (micros: bigint) =>
  `${micros / 1_000_000n}.${String(micros % 1_000_000n).padStart(6, '0')}`;

type Sql = BillingStack['stores']['sql'];

/**
 * One event of `micros`, charged as the usage worker charges a batch: the event, its ledger debit
 * and the balance, with chosen timestamps (ingest refuses events older than 35 days, and statements
 * need ended months). `persistedAt` is when it was charged, what statements compare with the
 * start of invoice billing; by default now, as the worker stores it. Event and ledger row go
 * through `sql`, which may be an open transaction; the balance is debited at once, outside it
 * (holding the balance row would only make the statement's own ledger change wait).
 */
export async function chargeUsage(
  stack: BillingStack,
  sql: Sql,
  accountId: string,
  model: string,
  occurredAt: number,
  micros: bigint,
  persistedAt?: number,
): Promise<void> {
  const batchId = randomUUID();
  const persisted = persistedAt === undefined ? null : new Date(persistedAt);
  await sql`
    insert into usage_events (account_id, event_id, model_id, prompt_tokens, completion_tokens, cached_tokens,
      reasoning_tokens, cost_micros, price_version_id, batch_id, occurred_at, received_at, persisted_at)
    values (${accountId}, ${randomUUID()}, ${model}, 1000, 10, 0, 0, ${micros}, 1, ${batchId},
            ${new Date(occurredAt)}, ${new Date(occurredAt)}, coalesce(${persisted}::timestamptz, now()))`;
  await sql`
    insert into ledger_entries (account_id, kind, amount_micros, idempotency_key, source)
    values (${accountId}, 'usage', ${-micros}, ${`usage:${batchId}:${accountId}`}, '{}'::jsonb)`;
  await stack.stores.sql`
    update account_balances set balance_micros = balance_micros - ${micros}
    where account_id = ${accountId} and shard = 0`;
}

/**
 * Dates an account's switch to invoice billing back to `since`. The PUT that switched it records
 * now; a test whose account must have been on invoice billing during a month that has ended (to
 * invoice it) moves that start back, as only the clock could. Usage charged before it is
 * prepaid and on no statement.
 */
export async function backdateInvoiceBilling(stack: BillingStack, accountId: string, since: number) {
  const updated = await stack.stores.sql`
    update accounts set invoice_billing_since = ${new Date(since)}
    where id = ${accountId} and billing_mode = 'invoice'`;
  if (updated.count !== 1) throw new Error(`account ${accountId} is not on invoice billing`);
}

/**
 * An enterprise workspace on invoice billing (30-day terms, a $1,000 credit limit, `terms` on top)
 * since `since`, so the months after it can be invoiced.
 */
export async function invoiceBilledWorkspace(
  stack: BillingStack,
  since: number,
  terms: Record<string, unknown> = {},
): Promise<Workspace> {
  const ws = await Workspace.create(stack, 'enterprise');
  const response = await stack.admin.put(`/v1/admin/accounts/${ws.accountId}/invoice-billing`, {
    payment_terms_days: 30,
    credit_limit: '1000.00',
    ...terms,
  });
  if (response.status !== 200) throw new Error(`invoice billing refused: ${JSON.stringify(response.body)}`);
  await backdateInvoiceBilling(stack, ws.accountId, since);
  return ws;
}
