import { APP_CONFIG, BaseEnv } from '@app/config';
import { DATABASE, DatabaseHandle } from '@app/db';
import {
  JobName,
  logQueueErrors,
  QUEUE_OPTIONS,
  QUEUE_SETTINGS,
  QueueName,
  renderInvoiceJobId,
  RenderInvoicePayload,
} from '@app/queue';
import { closeRedis, openRedis, RedisClient, RedisKeys, whenReachable } from '@app/redis';
import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { Queue } from 'bullmq';

/**
 * Queues PDF renders. Rendering never runs on the request path: the issuer calls schedule() once
 * its transaction has committed, and the sweep re-queues any invoice whose enqueue was lost (a
 * crash between commit and schedule). Both use the invoice's job id, so they never double up.
 */
@Injectable()
export class InvoiceRenderScheduler implements OnApplicationShutdown {
  private queue: Queue<RenderInvoicePayload> | null = null;
  /** The queue's connection: BullMQ leaves one it was handed open when the queue closes. */
  private connection: RedisClient | null = null;

  constructor(
    @Inject(APP_CONFIG) private readonly config: BaseEnv,
    @Inject(DATABASE) private readonly database: DatabaseHandle,
  ) {}

  /** Call after the issuing transaction commits (a job for an uncommitted invoice would find nothing). */
  async schedule(invoiceIds: string[]): Promise<void> {
    if (invoiceIds.length === 0) return;
    const queue = await this.reachableQueue();
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
    const queue = await this.reachableQueue();
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

  /**
   * The queue once its connection answers: a queue first opened during an outage would wait for
   * Redis's return, holding the request whose commit it follows (whenReachable).
   */
  private async reachableQueue(): Promise<Queue<RenderInvoicePayload>> {
    const queue = this.queueOf();
    await whenReachable(this.connection!);
    return queue;
  }

  private queueOf(): Queue<RenderInvoicePayload> {
    if (!this.queue) {
      // Fails fast (not BullMQ's retry-forever connection): schedule() runs after a commit on the
      // request path, and a lost enqueue is the sweep's to repair, not a reason to hang.
      this.connection = openRedis(this.config);
      this.queue = new Queue<RenderInvoicePayload>(QueueName.Invoices, {
        connection: this.connection,
        prefix: new RedisKeys(this.config.REDIS_PREFIX).bullPrefix(),
        ...QUEUE_OPTIONS,
      });
      logQueueErrors(this.queue, `queue ${QueueName.Invoices}`);
    }
    return this.queue;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.queue?.close();
    if (this.connection) await closeRedis(this.connection);
  }
}
