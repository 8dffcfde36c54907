import { AuditActor, AuditLogService } from '@app/audit';
import { APP_CONFIG, BaseEnv } from '@app/config';
import { DATABASE, DatabaseHandle, Sql, Tx } from '@app/db';
import { ApiError, isRedisUnavailable, redisUnavailable } from '@app/http';
import {
  BuildInvoiceExportPayload,
  invoiceExportJobId,
  JobName,
  LazyQueue,
  QUEUE_SETTINGS,
  QueueName,
} from '@app/queue';
import { ObjectStorage } from '@app/storage';
import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { createHash, randomUUID } from 'node:crypto';
import { InvoiceExportRow, invoiceExportView } from './invoice-export.view';

export const INVOICE_EXPORT_URL_TTL_SECONDS = Symbol('INVOICE_EXPORT_URL_TTL_SECONDS');

/**
 * The export id of a request with an Idempotency-Key: derived from the account and the key (a
 * UUIDv8 of their SHA-256), so a replayed request finds the export it made instead of making another.
 */
export function invoiceExportIdFor(accountId: string, requestKey: string): string {
  const bytes = createHash('sha256')
    .update(`invoice-export\n${accountId}\n${requestKey}`)
    .digest()
    .subarray(0, 16);
  bytes[6] = (bytes[6] & 0x0f) | 0x80;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function selectExport(sql: Sql | Tx, accountId: string, exportId: string) {
  return sql<InvoiceExportRow[]>`
    select id, account_id, from_date::text as from_date, to_date::text as to_date, status::text as status,
           invoice_count, object_key, sha256, error, created_at, completed_at
    from invoice_exports
    where id = ${exportId} and account_id = ${accountId}`;
}

/** Zip exports of invoice PDFs, API side: request one (queued for the worker), read its state and link. */
@Injectable()
export class InvoiceExportsService implements OnApplicationShutdown {
  private readonly logger = new Logger(InvoiceExportsService.name);
  /** On the request path, where an outage must be a prompt 503 the admin can retry. */
  private readonly queue: LazyQueue<BuildInvoiceExportPayload>;

  constructor(
    @Inject(APP_CONFIG) config: BaseEnv,
    @Inject(DATABASE) private readonly database: DatabaseHandle,
    private readonly storage: ObjectStorage,
    private readonly audit: AuditLogService,
    @Inject(INVOICE_EXPORT_URL_TTL_SECONDS) private readonly urlTtlSeconds: number,
  ) {
    this.queue = new LazyQueue(QueueName.Invoices, config);
  }

  /**
   * Records the export (with an audit row, in one transaction), then queues its build. Redis is
   * asked first, so during an outage the request is answered 503 with nothing written, and its
   * retry starts afresh. Redis lost between the two makes the same 503 mean the same thing: the
   * export this request recorded is withdrawn (see withdraw). Only a crash between the two leaves
   * a pending row without its job: a retry with the same Idempotency-Key, or reading the export,
   * queues it again.
   */
  async request(input: {
    accountId: string;
    from: string;
    to: string;
    requestKey?: string;
    actor: AuditActor;
  }): Promise<ReturnType<typeof invoiceExportView>> {
    await this.requireQueueReachable();
    const id = input.requestKey ? invoiceExportIdFor(input.accountId, input.requestKey) : randomUUID();
    const { row, created } = await this.database.sql.begin(async (tx) => {
      const inserted = await tx`
        insert into invoice_exports (id, account_id, from_date, to_date)
        values (${id}, ${input.accountId}, ${input.from}, ${input.to})
        on conflict (id) do nothing
        returning id`;
      const [current] = await selectExport(tx, input.accountId, id);
      if (inserted.length === 0) {
        if (current.from_date !== input.from || current.to_date !== input.to) {
          throw new ApiError(
            422,
            'idempotency_key_reused',
            'this Idempotency-Key was already used for an export of other dates',
          );
        }
        return { row: current, created: false };
      }
      await this.audit.record(tx, {
        accountId: input.accountId,
        actor: input.actor,
        action: 'invoice_export.requested',
        targetType: 'invoice_export',
        targetId: id,
        before: null,
        after: { from: input.from, to: input.to },
      });
      return { row: current, created: true };
    });
    if (row.status !== 'pending') return invoiceExportView(row);
    try {
      await this.enqueue(row);
    } catch (error) {
      // A replay's row belongs to the request that made it (and was answered 202): left alone.
      if (created) await this.withdraw(row);
      throw error;
    }
    return invoiceExportView(row);
  }

  /**
   * Undoes the export of a request whose queue add failed, so that its 503 means what the 503 of
   * the PING means: nothing recorded, nothing built, the retry starts afresh. Kept instead, the
   * row would stay pending for good when the caller had no Idempotency-Key (it never learns the
   * id, and nothing else re-queues it); a sweeper queueing it later would build a zip nobody asked
   * for next to the one of the caller's retry. The add may still have queued the build (its answer
   * lost, not its command): the build finds no row and does nothing; a keyed retry that records
   * the export again before that job runs is built by it (same job id), once. Only a pending row
   * goes: one whose build already finished stays. Postgres failing here too leaves the row
   * pending, logged with its id.
   */
  private async withdraw(row: InvoiceExportRow): Promise<void> {
    try {
      const withdrawn = await this.database.sql.begin(async (tx) => {
        const deleted = await tx`
          delete from invoice_exports
          where id = ${row.id} and account_id = ${row.account_id} and status = 'pending'`;
        if (deleted.count === 0) return false;
        // The request never took effect, so neither did the action its audit row records.
        await tx`
          delete from audit_log
          where account_id = ${row.account_id} and action = 'invoice_export.requested'
            and target_type = 'invoice_export' and target_id = ${row.id}`;
        return true;
      });
      if (withdrawn) this.logger.warn(`invoice export ${row.id} withdrawn: its build could not be queued`);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.logger.error(`invoice export ${row.id} left pending without its build job: ${message}`);
    }
  }

  /** The export's state; when ready, a presigned download link valid for a few minutes. */
  async find(accountId: string, exportId: string): Promise<ReturnType<typeof invoiceExportView>> {
    // The account id is part of the lookup (I7): another tenant's export is simply not found.
    const [row] = await selectExport(this.database.sql, accountId, exportId);
    if (!row) throw new ApiError(404, 'invoice_export_not_found', 'no such invoice export');
    if (row.status === 'pending') {
      await this.requeue(row);
      return invoiceExportView(row);
    }
    if (row.status !== 'ready' || !row.object_key) return invoiceExportView(row);
    const link = await this.storage.presignedGetUrl(
      row.object_key,
      this.urlTtlSeconds,
      `invoices-${row.from_date}_${row.to_date}.zip`,
    );
    return invoiceExportView(row, link);
  }

  /**
   * Queues a pending export's build again on a read: same job id, so a no-op while the job exists
   * and a recovery when the api crashed before its enqueue. Only a recovery, so with Redis away the
   * read still shows the export (the next read tries again) rather than answering 503.
   */
  private async requeue(row: InvoiceExportRow): Promise<void> {
    try {
      await this.enqueue(row);
    } catch (error) {
      if (!(error instanceof ApiError && error.getStatus() === 503)) throw error;
      this.logger.warn(
        `invoice export ${row.id} read while Redis is unreachable: its build not queued again`,
      );
    }
  }

  private async enqueue(row: InvoiceExportRow): Promise<void> {
    try {
      // PINGs first when the queue is new: one first opened during an outage would wait for Redis.
      const queue = await this.queue.reachable();
      await queue.add(
        JobName.BuildInvoiceExport,
        { exportId: row.id, accountId: row.account_id },
        { ...QUEUE_SETTINGS[QueueName.Invoices].jobOptions, jobId: invoiceExportJobId(row.id) },
      );
    } catch (error) {
      throw queueUnavailableOr(error);
    }
  }

  /** A PING on the queue's connection, so that an outage answers 503 before anything is written. */
  private async requireQueueReachable(): Promise<void> {
    try {
      await this.queue.ping();
    } catch (error) {
      throw queueUnavailableOr(error);
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await this.queue.close();
  }
}

function queueUnavailableOr(error: unknown): unknown {
  return isRedisUnavailable(error) ? redisUnavailable('the export queue is unreachable; retry later') : error;
}
