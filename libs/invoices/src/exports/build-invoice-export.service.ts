import { DATABASE, DatabaseHandle } from '@app/db';
import { BillingMetrics } from '@app/metrics';
import { JobAttempt } from '@app/queue';
import { ObjectStorage } from '@app/storage';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { invoiceExportKey, InvoiceExportRow } from './invoice-export.view';
import { zipStream } from './invoice-zip';

/** Renders one invoice's PDF to S3 and records it (RenderInvoicePdfService.render, idempotent). */
export type RenderInvoicePdf = (invoiceId: string) => Promise<unknown>;

export type BuildInvoiceExportOutcome =
  | { kind: 'ready'; invoiceCount: number; sha256: string; rendered: number }
  | { kind: 'already_done'; status: string }
  | { kind: 'missing_export' };

interface ExportedInvoice {
  id: string;
  number: string;
  issued_at: Date;
  pdf_key: string | null;
  pdf_sha256: string | null;
}

/**
 * Builds an export's zip in the worker: the PDFs of the account's invoices issued on the export's
 * dates (UTC, both inclusive) and before it was requested, streamed one by one from S3 into the
 * zip and the zip streamed to S3 under a key fixed by the export.
 *
 * Invoices whose PDF is not rendered yet are rendered first, here (the render is idempotent and
 * reproducible, so racing the render worker on the same invoice stores the same bytes once).
 *
 * Safe to repeat at any point: the same export gives the same invoices and the same zip bytes
 * (fixed entry dates and order), written to the same key; the row is marked ready last, only
 * once the object is there. A retry after a crash simply builds and overwrites again.
 */
@Injectable()
export class BuildInvoiceExportService {
  private readonly logger = new Logger(BuildInvoiceExportService.name);

  constructor(
    @Inject(DATABASE) private readonly database: DatabaseHandle,
    private readonly storage: ObjectStorage,
    private readonly metrics: BillingMetrics,
  ) {}

  async build(
    exportId: string,
    attempt: JobAttempt,
    renderPdf: RenderInvoicePdf,
  ): Promise<BuildInvoiceExportOutcome> {
    const { sql } = this.database;
    const [row] = await sql<InvoiceExportRow[]>`
      select id, account_id, from_date::text as from_date, to_date::text as to_date, status::text as status,
             invoice_count, object_key, sha256, error, created_at, completed_at
      from invoice_exports where id = ${exportId}`;
    // Withdrawn by the API when its queue add failed: an add whose answer alone was lost queued this.
    if (!row) return { kind: 'missing_export' };
    if (row.status !== 'pending') return { kind: 'already_done', status: row.status };

    const timer = this.metrics.exportDuration.startTimer({ kind: 'invoice_zip' });
    try {
      let invoices = await this.invoicesOf(row);
      const unrendered = invoices.filter((invoice) => !invoice.pdf_key || !invoice.pdf_sha256);
      for (const invoice of unrendered) await renderPdf(invoice.id);
      if (unrendered.length > 0) invoices = await this.invoicesOf(row);
      const stillMissing = invoices.filter((invoice) => !invoice.pdf_key || !invoice.pdf_sha256);
      if (stillMissing.length > 0) {
        throw new Error(
          `invoice PDFs not rendered: ${stillMissing.map((invoice) => invoice.number).join(', ')}`,
        );
      }

      const key = invoiceExportKey(row.account_id, row.id);
      const zip = zipStream(
        invoices.map((invoice) => ({
          name: `${invoice.number}.pdf`,
          date: invoice.issued_at,
          sha256: invoice.pdf_sha256,
          open: () => this.storage.getStream(invoice.pdf_key!),
        })),
      );
      const stored = await this.storage.put(key, zip, 'application/zip');
      // Only a pending export becomes ready: a concurrent duplicate run wrote the same bytes to the same key.
      await sql`
        update invoice_exports
           set status = 'ready', object_key = ${key}, sha256 = ${stored.sha256},
               invoice_count = ${invoices.length}, error = null, completed_at = now()
         where id = ${row.id} and status = 'pending'`;
      this.metrics.exports.inc({ kind: 'invoice_zip', outcome: 'completed' });
      timer();
      return {
        kind: 'ready',
        invoiceCount: invoices.length,
        sha256: stored.sha256,
        rendered: unrendered.length,
      };
    } catch (error) {
      if (attempt.lastAttempt) {
        const message = error instanceof Error ? error.message : String(error);
        this.logger.error(`invoice export ${row.id} failed: ${message}`);
        await sql`
          update invoice_exports
             set status = 'failed', error = ${message.slice(0, 500)}, completed_at = now()
           where id = ${row.id} and status = 'pending'`;
        this.metrics.exports.inc({ kind: 'invoice_zip', outcome: 'failed' });
      }
      throw error;
    }
  }

  /**
   * Invoices issued on the export's UTC days and before the export was requested, so every
   * attempt (and every duplicate run) sees the same set; by number within an issue time.
   *
   * An invoice is dated when its issuer takes the number and becomes visible at the issuer's
   * commit, a moment later; the issuer holds its year's invoice_sequences row in between. Taking
   * a share lock on those rows first waits for such issuers, so an invoice dated before the
   * request cannot commit after this read. (Not covered: the first invoice of a year, whose row
   * is not there to lock until it commits.)
   */
  private async invoicesOf(row: InvoiceExportRow): Promise<ExportedInvoice[]> {
    const { sql } = this.database;
    await sql`
      select year from invoice_sequences
      where year between extract(year from ${row.from_date}::date) and extract(year from ${row.to_date}::date)
      for share`;
    return sql<ExportedInvoice[]>`
      select id, number, issued_at, pdf_key, pdf_sha256
      from invoices
      where account_id = ${row.account_id}
        and issued_at >= (${row.from_date}::date)::timestamp at time zone 'UTC'
        and issued_at < (${row.to_date}::date + 1)::timestamp at time zone 'UTC'
        and issued_at < ${row.created_at}
      order by issued_at, number`;
  }

  /**
   * Deletes the zips of exports built more than `retentionDays` ago and marks them expired (the
   * API then shows no link; a new export builds a new zip). Object first, then the row: a crash
   * in between only deletes the object again next time (deleting a missing key succeeds), and a
   * row is never marked expired while its zip is still stored.
   */
  async pruneExpired(retentionDays: number, limit = 500): Promise<{ expired: number }> {
    const { sql } = this.database;
    const due = await sql<{ id: string; object_key: string }[]>`
      select id, object_key from invoice_exports
      where status = 'ready' and object_key is not null
        and completed_at < now() - make_interval(days => ${retentionDays})
      order by completed_at limit ${limit}`;
    let expired = 0;
    for (const row of due) {
      await this.storage.delete(row.object_key);
      const marked = await sql`
        update invoice_exports set status = 'expired', object_key = null
        where id = ${row.id} and status = 'ready'`;
      expired += marked.count;
    }
    return { expired };
  }
}
