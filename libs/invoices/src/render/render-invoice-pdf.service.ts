import { DATABASE, DatabaseHandle, Tx } from '@app/db';
import { BillingMetrics } from '@app/metrics';
import { ObjectStorage } from '@app/storage';
import { crashAt, FAILPOINT, FailpointName } from '@app/usage';
import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { AfterCommit, INVOICE_PDF_LISTENER, InvoicePdfListener } from '../invoice-listeners';
import { invoicePdfKey, SellerDetails } from './invoice-document';
import { loadInvoicePdfSource } from './invoice-pdf-source';
import { renderInvoicePdf } from './render-invoice-pdf';

export const INVOICE_SELLER = Symbol('INVOICE_SELLER');

/** Serialises the renders of one invoice (render-invoice-pdf.service.ts). */
export function invoiceRenderLockKey(invoiceId: string): string {
  return `invoice-render:${invoiceId}`;
}

export type RenderOutcome =
  | { kind: 'rendered' | 'already_rendered' | 'recorded_existing'; key: string; sha256: string }
  | { kind: 'missing_invoice' };

/**
 * Renders an invoice's PDF into S3 and records its key and SHA-256 on the invoice.
 *
 * Safe to repeat at any point: the key is fixed by the invoice and the bytes by its row, so a
 * retry after a crash between upload and record finds the same object (same hash) and only
 * records it; a forced re-render overwrites the object with identical bytes.
 */
@Injectable()
export class RenderInvoicePdfService {
  private readonly logger = new Logger(RenderInvoicePdfService.name);

  constructor(
    @Inject(DATABASE) private readonly database: DatabaseHandle,
    private readonly storage: ObjectStorage,
    private readonly metrics: BillingMetrics,
    @Inject(INVOICE_SELLER) private readonly seller: SellerDetails,
    @Optional() @Inject(FAILPOINT) private readonly failpoint?: FailpointName,
    @Optional() @Inject(INVOICE_PDF_LISTENER) private readonly pdfListener?: InvoicePdfListener,
  ) {}

  async render(invoiceId: string, force = false): Promise<RenderOutcome> {
    const timer = this.metrics.invoiceRenderDuration.startTimer();
    try {
      const outcome = await this.renderOnce(invoiceId, force);
      timer();
      return outcome;
    } catch (error) {
      this.metrics.invoiceRenderFailures.inc();
      throw error;
    }
  }

  private async renderOnce(invoiceId: string, force: boolean): Promise<RenderOutcome> {
    // One render of an invoice at a time, from reading the row to recording the upload. Without
    // it, a render that read the invoice open could upload its bytes over those of a render queued
    // by the payment, and record before it: S3 would keep the open PDF under the paid row's hash,
    // which the sweep (it compares statuses) never sees. The lock is an advisory one, not the row's,
    // so a payment or the overdue marker never waits for an upload; a status that changes during
    // a render is recorded as pdf_status != status and drawn again by the re-render that change
    // queued (or the sweep). A worker that dies or hangs mid-render (idle_in_transaction_session_timeout)
    // drops the lock with its session.
    const { outcome, afterCommit } = await this.database.sql.begin(async (tx) => {
      await tx`select pg_advisory_xact_lock(hashtextextended(${invoiceRenderLockKey(invoiceId)}, 0))`;
      return this.renderLocked(tx, invoiceId, force);
    });
    await afterCommit?.().catch((error: unknown) =>
      this.logger.warn(`invoice ${invoiceId}: PDF listener failed after commit: ${String(error)}`),
    );
    return outcome;
  }

  private async renderLocked(
    tx: Tx,
    invoiceId: string,
    force: boolean,
  ): Promise<{ outcome: RenderOutcome; afterCommit: AfterCommit | null }> {
    // Read under the lock: the status committed last, not one a render before this one saw.
    const source = await loadInvoicePdfSource(tx, invoiceId);
    if (!source) {
      // A job outliving a rolled-back issue; nothing to draw.
      this.logger.warn(`invoice ${invoiceId} not found; render skipped`);
      return { outcome: { kind: 'missing_invoice' }, afterCommit: null };
    }
    const { document } = source;
    const key = invoicePdfKey(document.accountId, document.number);
    if (!force && source.pdfKey && source.pdfSha256) {
      return {
        outcome: { kind: 'already_rendered', key: source.pdfKey, sha256: source.pdfSha256 },
        afterCommit: null,
      };
    }

    const pdf = await renderInvoicePdf(document, this.seller);
    const sha256 = createHash('sha256').update(pdf).digest('hex');
    const existing = await this.storage.head(key);
    const sameObject = existing?.sha256 === sha256 && existing.size === pdf.length;
    if (!sameObject) await this.storage.put(key, pdf, 'application/pdf');
    // Test crash point: the object is in S3 but the invoice does not say so yet.
    crashAt(this.failpoint, 'mid-render');

    // pdf_rendered_at moves only when the bytes change, so a repeated render records nothing new.
    // The PDF listener (the "invoice ready" email) hears of the first recording only, in the same
    // transaction, so a crash cannot record the PDF without its alert; its dedupe key covers a race.
    const [row] = await tx<{ first: boolean }[]>`
      update invoices i
         set pdf_key = ${key},
             pdf_sha256 = ${sha256},
             pdf_status = ${document.status},
             pdf_rendered_at = case when i.pdf_sha256 is not distinct from ${sha256}
                                    then coalesce(i.pdf_rendered_at, now()) else now() end,
             updated_at = now()
        from (select id, pdf_sha256 is null as first from invoices where id = ${invoiceId} for update) old
       where i.id = old.id
       returning old.first`;
    const afterCommit =
      row?.first && this.pdfListener ? await this.pdfListener.pdfRecorded(tx, invoiceId) : null;
    return { outcome: { kind: sameObject ? 'recorded_existing' : 'rendered', key, sha256 }, afterCommit };
  }
}
