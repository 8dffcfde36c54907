import { APP_CONFIG, BaseEnv } from '@app/config';
import { DATABASE, DatabaseHandle } from '@app/db';
import {
  JobName,
  LazyQueue,
  QUEUE_SETTINGS,
  QueueName,
  renderInvoiceJobId,
  RenderInvoicePayload,
} from '@app/queue';
import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';

/**
 * Queues PDF renders. Rendering never runs on the request path: the issuer calls schedule() once
 * its transaction has committed, and the sweep re-queues any invoice whose enqueue was lost (a
 * crash between commit and schedule). Both use the invoice's job id, so they never double up.
 */
@Injectable()
export class InvoiceRenderScheduler implements OnApplicationShutdown {
  /** schedule() runs after a commit on the request path: a lost enqueue is the sweep's to repair. */
  private readonly queue: LazyQueue<RenderInvoicePayload>;

  constructor(
    @Inject(APP_CONFIG) config: BaseEnv,
    @Inject(DATABASE) private readonly database: DatabaseHandle,
  ) {
    this.queue = new LazyQueue(QueueName.Invoices, config);
  }

  /** Call after the issuing transaction commits (a job for an uncommitted invoice would find nothing). */
  async schedule(invoiceIds: string[]): Promise<void> {
    if (invoiceIds.length === 0) return;
    const queue = await this.queue.reachable();
    await queue.addBulk(
      invoiceIds.map((invoiceId) => ({
        name: JobName.RenderInvoice,
        data: { invoiceId },
        opts: { ...QUEUE_SETTINGS[QueueName.Invoices].jobOptions, jobId: renderInvoiceJobId(invoiceId) },
      })),
    );
  }

  /**
   * Renders again even if a PDF is recorded (same bytes; e.g. after the invoice's status changed).
   * A distinct job id, so a pending ordinary render does not swallow it.
   */
  async rerender(invoiceId: string): Promise<void> {
    const queue = await this.queue.reachable();
    await queue.add(
      JobName.RenderInvoice,
      { invoiceId, force: true },
      {
        ...QUEUE_SETTINGS[QueueName.Invoices].jobOptions,
        jobId: `${renderInvoiceJobId(invoiceId)}-forced-${Date.now()}`,
      },
    );
  }

  /**
   * Queues every invoice issued at least olderThanSeconds ago that has no PDF yet, and re-renders
   * every one whose PDF shows a status it left at least that long ago (the process that changed it
   * died before queuing the re-render); returns how many.
   */
  async sweep(olderThanSeconds: number, limit = 1000): Promise<number> {
    const { sql } = this.database;
    const unrendered = await sql<{ id: string }[]>`
      select id from invoices
       where pdf_key is null and created_at < now() - make_interval(secs => ${olderThanSeconds})
       order by created_at limit ${limit}`;
    await this.schedule(unrendered.map((row) => row.id));
    const stale = await sql<{ id: string }[]>`
      select id from invoices
       where pdf_key is not null and pdf_status is distinct from status
         and updated_at < now() - make_interval(secs => ${olderThanSeconds})
       order by created_at limit ${limit}`;
    for (const row of stale) await this.rerender(row.id);
    return unrendered.length + stale.length;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.queue.close();
  }
}
