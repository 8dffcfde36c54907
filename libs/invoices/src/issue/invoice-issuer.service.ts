/**
 * Issues invoices inside the caller's transaction (the one that credits a purchase, or the
 * monthly statement's).
 *
 * Why the numbering is gapless: the next number comes from an upsert on the issuing year's row of
 * invoice_sequences, not from a Postgres sequence. A sequence hands out numbers outside
 * transactions, so a rolled-back purchase would burn one and leave a hole. The upsert's row lock
 * is held until the issuing transaction ends: concurrent issuers queue on it and each reads the
 * value the previous one committed, and a rollback undoes the increment together with the invoice
 * and the credit, so the next issuer gets the same number again. The price is that issuers of
 * one year are serialised from taking the number to commit; the number is therefore taken as the
 * last step before the inserts, and callers issue at the end of their transaction.
 */
import { AuditActor, AuditLogService, SYSTEM_ACTOR } from '@app/audit';
import { Tx } from '@app/db';
import { BillingMetrics } from '@app/metrics';
import { Injectable, Logger, Optional } from '@nestjs/common';
import { InvoiceRenderScheduler } from '../render/invoice-render-scheduler.service';
import { readBillTo } from './bill-to-snapshot';
import { InvoiceDraft, IssuedInvoice } from './invoice-draft';
import { formatInvoiceNumber, isWholeCents } from './invoice-number';

/** Checks the amounts a draft carries; the CHECK constraint on invoices guards the total again. */
export function invoiceTotals(draft: InvoiceDraft): { subtotal: bigint; discount: bigint; total: bigint } {
  if (draft.lines.length === 0) throw new Error('an invoice needs at least one line');
  const discount = draft.discountMicros ?? 0n;
  const amounts = [...draft.lines.map((line) => line.amountMicros), discount, draft.tax.amountMicros];
  if (!amounts.every(isWholeCents))
    throw new Error('invoice amounts must be whole cents (multiples of 10000 micros)');
  if (discount < 0n || draft.tax.amountMicros < 0n) throw new Error('discount and tax cannot be negative');
  const subtotal = draft.lines.reduce((sum, line) => sum + line.amountMicros, 0n);
  return { subtotal, discount, total: subtotal - discount + draft.tax.amountMicros };
}

/**
 * Takes the next number of the current UTC year and the issue time. The time is the database's
 * clock_timestamp() in RETURNING, read once the upsert holds the year's row lock: an issuer that
 * queued behind another gets a later time as well as a later number, so numbers and issue times
 * are in the same order, and an invoice's time is at most the few final inserts before its commit
 * (not a wait in the queue) earlier than the moment it becomes visible. The time comes back as
 * text to keep its microseconds.
 *
 * The year is read before the lock is granted; a wait across midnight of December 31 would give
 * a number of the old year with a time in the new one. Then the increment is taken back (this
 * transaction holds the row, so nothing happened in between) and the number taken in the new year.
 */
export async function takeInvoiceNumber(
  tx: Tx,
): Promise<{ year: number; sequence: number; issuedAt: string }> {
  for (;;) {
    const [taken] = await tx<{ year: number; sequence: number; issued_at: string; issued_year: number }[]>`
      with taken as (
        insert into invoice_sequences (year, last_number)
        values (extract(year from clock_timestamp() at time zone 'UTC')::int, 1)
        on conflict (year) do update set last_number = invoice_sequences.last_number + 1
        returning year, last_number, clock_timestamp() as issued_at)
      select year, last_number as sequence, issued_at::text as issued_at,
             extract(year from issued_at at time zone 'UTC')::int as issued_year
      from taken`;
    if (taken.issued_year === taken.year) {
      return { year: taken.year, sequence: taken.sequence, issuedAt: taken.issued_at };
    }
    await tx`update invoice_sequences set last_number = last_number - 1 where year = ${taken.year}`;
  }
}

/** paid_at of a draft issued at `issuedAt` (the database's text form): null unless paid. */
function paidAt(draft: InvoiceDraft, issuedAt: string): string | null {
  if (draft.status !== 'paid') return null;
  return draft.settledAtIssue ? issuedAt : draft.transactionAt.toISOString();
}

@Injectable()
export class InvoiceIssuer {
  private readonly logger = new Logger(InvoiceIssuer.name);

  constructor(
    private readonly audit: AuditLogService,
    private readonly renders: InvoiceRenderScheduler,
    @Optional() private readonly metrics?: BillingMetrics,
  ) {}

  /**
   * Numbers and stores one invoice with its lines and an audit row, in `tx`. Call it once per
   * cause: invoices.purchase_id (and the statement period) are unique, so a second call for the
   * same purchase fails and rolls the caller back rather than issuing twice.
   */
  async issue(tx: Tx, draft: InvoiceDraft, actor: AuditActor = SYSTEM_ACTOR): Promise<IssuedInvoice> {
    const { subtotal, discount, total } = invoiceTotals(draft);
    // A purchase brings the bill-to it took with its tax; otherwise it is the account's now.
    const { billTo, purchaseOrderNumber, billingReference } =
      draft.billTo ?? (await readBillTo(tx, draft.accountId));
    // Taken last: from here to commit, every other issuer of this year waits on this row.
    const { year, sequence, issuedAt } = await takeInvoiceNumber(tx);
    const number = formatInvoiceNumber(year, sequence);
    const [{ id }] = await tx<{ id: string }[]>`
      insert into invoices (account_id, number, issue_year, sequence, kind, status, issued_at, transaction_at,
                            due_date, period_start, period_end, purchase_id, subtotal_micros, discount_micros,
                            tax_micros, total_micros, tax_jurisdiction, tax_rate_ppm, tax_exempt, bill_to,
                            card_brand, card_last4, purchase_order_number, billing_reference, paid_at,
                            usage_snapshot)
      values (${draft.accountId}, ${number}, ${year}, ${sequence}, ${draft.kind}, ${draft.status}, ${issuedAt}::timestamptz,
              ${draft.transactionAt}, ${draft.dueDate ?? null}::date, ${draft.periodStart ?? null}::date,
              ${draft.periodEnd ?? null}::date, ${draft.purchaseId ?? null}::uuid, ${subtotal.toString()}::bigint,
              ${discount.toString()}::bigint, ${draft.tax.amountMicros.toString()}::bigint, ${total.toString()}::bigint,
              ${draft.tax.jurisdiction}, ${draft.tax.ratePpm}, ${draft.tax.exempt},
              ${tx.json(billTo as unknown as Parameters<Tx['json']>[0])}, ${draft.card?.brand ?? null},
              ${draft.card?.last4 ?? null}, ${purchaseOrderNumber}, ${billingReference},
              ${paidAt(draft, issuedAt)}::timestamptz, ${draft.usageSnapshot ?? null}::pg_snapshot)
      returning id`;
    const lines = draft.lines;
    await tx`
      insert into invoice_lines (invoice_id, position, description, model, quantity, amount_micros)
      select ${id}::uuid, t.position, t.description, t.model, t.quantity, t.amount_micros
      from unnest(${lines.map((_, index) => index + 1)}::int[], ${lines.map((line) => line.description)}::text[],
                  ${lines.map((line) => line.model ?? null)}::text[],
                  ${lines.map((line) => line.quantity.toString())}::bigint[],
                  ${lines.map((line) => line.amountMicros.toString())}::bigint[])
           as t(position, description, model, quantity, amount_micros)`;
    await this.audit.record(tx, {
      accountId: draft.accountId,
      actor,
      action: 'invoice.issued',
      targetType: 'invoice',
      targetId: id,
      before: null,
      after: {
        number,
        kind: draft.kind,
        status: draft.status,
        total_micros: total,
        purchase_id: draft.purchaseId ?? null,
      },
    });
    return { id, number, kind: draft.kind };
  }

  /**
   * Call after the issuing transaction committed: counts the invoices (a rolled-back issue is
   * never counted) and queues their PDFs. A lost enqueue (Redis down, a crash right here) is
   * picked up by the render sweep, which queues every invoice without a PDF; the job id is the
   * invoice's, so both together still render once.
   */
  async afterCommit(issued: readonly IssuedInvoice[]): Promise<void> {
    for (const invoice of issued) this.metrics?.invoicesIssued.inc({ kind: invoice.kind });
    try {
      await this.renders.schedule(issued.map((invoice) => invoice.id));
    } catch (error) {
      this.logger.warn(
        `render of ${issued.map((invoice) => invoice.number).join(', ')} not queued, left to the sweep: ${String(error)}`,
      );
    }
  }
}
