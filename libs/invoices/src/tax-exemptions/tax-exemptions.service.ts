import { AuditActor, AuditLogService } from '@app/audit';
import { DATABASE, DatabaseHandle } from '@app/db';
import { ApiError } from '@app/http';
import { ObjectStorage } from '@app/storage';
import { Inject, Injectable } from '@nestjs/common';
import { createHash } from 'node:crypto';
import {
  cleanFileName,
  sniffDocumentType,
  TAX_EXEMPTION_OPTIONS,
  TaxExemptionOptions,
  taxExemptionObjectKey,
} from './tax-exemption-document';

export interface TaxExemptionRecord {
  id: string;
  account_id: string;
  status: 'pending' | 'approved' | 'rejected';
  file_name: string;
  content_type: string;
  size_bytes: number;
  object_key: string;
  sha256: string;
  uploaded_at: Date;
  reviewed_at: Date | null;
  review_note: string | null;
}

const COLUMNS =
  'id, account_id, status, file_name, content_type, size_bytes, object_key, sha256, uploaded_at, reviewed_at, review_note';

export interface UploadedDocument {
  fileName: string | undefined;
  bytes: Buffer;
}

/**
 * Tax-exemption certificates: uploaded by the account (kept in S3, pending), approved or rejected
 * by an admin. The tax of a purchase is decided when its row is opened (TaxQuoteService), so an
 * approval exempts purchases opened after it and leaves earlier purchases and invoices as they were.
 */
@Injectable()
export class TaxExemptionsService {
  constructor(
    @Inject(DATABASE) private readonly database: DatabaseHandle,
    @Inject(TAX_EXEMPTION_OPTIONS) private readonly options: TaxExemptionOptions,
    private readonly storage: ObjectStorage,
    private readonly audit: AuditLogService,
  ) {}

  get maxBytes(): number {
    return this.options.maxBytes;
  }

  /**
   * Stores the document under a key fixed by its content, then records it. Uploading the same
   * document again (a retry after a lost answer) returns the existing submission: `created` false.
   */
  async upload(
    accountId: string,
    document: UploadedDocument,
    actor: AuditActor,
  ): Promise<{ exemption: TaxExemptionRecord; created: boolean }> {
    await this.requireAccount(accountId);
    if (document.bytes.length === 0) throw new ApiError(422, 'empty_document', 'the uploaded file is empty');
    const type = sniffDocumentType(document.bytes);
    if (!type) {
      throw new ApiError(415, 'unsupported_document_type', 'the certificate must be a PDF, PNG or JPEG file');
    }
    const sha256 = createHash('sha256').update(document.bytes).digest('hex');
    const existing = await this.findBySha(accountId, sha256);
    if (existing) return { exemption: existing, created: false };
    const key = taxExemptionObjectKey(accountId, sha256, type.extension);
    // Before the row: a row never points at a missing object. Dying in between leaves an object
    // the next attempt of the same document overwrites with the same bytes.
    const stored = await this.storage.put(key, document.bytes, type.contentType);
    const fileName = cleanFileName(document.fileName, type.extension);
    return this.database.sql.begin(async (tx) => {
      // Concurrent uploads of one document by one account make one submission.
      await tx`select pg_advisory_xact_lock(hashtextextended(${`tax-exemption:${accountId}:${sha256}`}, 0))`;
      const [again] = await tx<TaxExemptionRecord[]>`
        select ${tx.unsafe(COLUMNS)} from tax_exemptions where account_id = ${accountId} and sha256 = ${sha256}`;
      if (again) return { exemption: again, created: false };
      const [row] = await tx<TaxExemptionRecord[]>`
        insert into tax_exemptions (account_id, file_name, content_type, size_bytes, object_key, sha256)
        values (${accountId}, ${fileName}, ${type.contentType}, ${stored.size}, ${key}, ${stored.sha256})
        returning ${tx.unsafe(COLUMNS)}`;
      await this.audit.record(tx, {
        accountId,
        actor,
        action: 'tax_exemption.uploaded',
        targetType: 'tax_exemption',
        targetId: row.id,
        before: null,
        after: {
          status: row.status,
          file_name: row.file_name,
          content_type: row.content_type,
          size_bytes: row.size_bytes,
          sha256: row.sha256,
        },
      });
      return { exemption: row, created: true };
    });
  }

  async list(accountId: string): Promise<TaxExemptionRecord[]> {
    await this.requireAccount(accountId);
    return this.database.sql<TaxExemptionRecord[]>`
      select ${this.database.sql.unsafe(COLUMNS)} from tax_exemptions where account_id = ${accountId}
      order by uploaded_at desc, id`;
  }

  /** Every account's submissions with this status, oldest first (the admin's review queue). */
  listByStatus(status: TaxExemptionRecord['status'], limit: number): Promise<TaxExemptionRecord[]> {
    return this.database.sql<TaxExemptionRecord[]>`
      select ${this.database.sql.unsafe(COLUMNS)} from tax_exemptions where status = ${status}
      order by uploaded_at, id limit ${limit}`;
  }

  async find(exemptionId: string): Promise<TaxExemptionRecord> {
    const [row] = await this.database.sql<TaxExemptionRecord[]>`
      select ${this.database.sql.unsafe(COLUMNS)} from tax_exemptions where id = ${exemptionId}`;
    if (!row) throw new ApiError(404, 'tax_exemption_not_found', 'no such tax exemption');
    return row;
  }

  /**
   * pending -> approved | rejected, once. Repeating the same decision answers the row as it is
   * (a retried admin call); the other decision on a reviewed row is 409.
   */
  async review(
    exemptionId: string,
    decision: 'approved' | 'rejected',
    note: string | null,
    actor: AuditActor,
  ): Promise<TaxExemptionRecord> {
    return this.database.sql.begin(async (tx) => {
      const [current] = await tx<TaxExemptionRecord[]>`
        select ${tx.unsafe(COLUMNS)} from tax_exemptions where id = ${exemptionId} for update`;
      if (!current) throw new ApiError(404, 'tax_exemption_not_found', 'no such tax exemption');
      if (current.status === decision) return current;
      if (current.status !== 'pending') {
        throw new ApiError(
          409,
          'tax_exemption_already_reviewed',
          `this tax exemption was already ${current.status}`,
        );
      }
      const [row] = await tx<TaxExemptionRecord[]>`
        update tax_exemptions set status = ${decision}, reviewed_at = now(), review_note = ${note}
        where id = ${exemptionId}
        returning ${tx.unsafe(COLUMNS)}`;
      await this.audit.record(tx, {
        accountId: row.account_id,
        actor,
        action: decision === 'approved' ? 'tax_exemption.approved' : 'tax_exemption.rejected',
        targetType: 'tax_exemption',
        targetId: row.id,
        before: { status: current.status },
        after: { status: row.status, review_note: row.review_note },
      });
      return row;
    });
  }

  /** A short-lived link to the stored document, for the reviewer. */
  documentUrl(exemption: TaxExemptionRecord, ttlSeconds: number) {
    return this.storage.presignedGetUrl(exemption.object_key, ttlSeconds, exemption.file_name);
  }

  private async findBySha(accountId: string, sha256: string): Promise<TaxExemptionRecord | null> {
    const [row] = await this.database.sql<TaxExemptionRecord[]>`
      select ${this.database.sql.unsafe(COLUMNS)} from tax_exemptions where account_id = ${accountId} and sha256 = ${sha256}`;
    return row ?? null;
  }

  private async requireAccount(accountId: string): Promise<void> {
    const [account] = await this.database.sql`select 1 from accounts where id = ${accountId}`;
    if (!account) throw new ApiError(404, 'account_not_found', 'no such account');
  }
}
