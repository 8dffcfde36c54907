import { DATABASE, DatabaseHandle } from '@app/db';
import { ApiError } from '@app/http';
import { ObjectStorage } from '@app/storage';
import { Inject, Injectable } from '@nestjs/common';

export const INVOICE_URL_TTL_SECONDS = Symbol('INVOICE_URL_TTL_SECONDS');

export interface InvoicePdfLink {
  url: string;
  expires_at: string;
}

/** Short-lived download links of rendered invoice PDFs; signing needs no request to S3. */
@Injectable()
export class InvoicePdfLinkService {
  constructor(
    @Inject(DATABASE) private readonly database: DatabaseHandle,
    private readonly storage: ObjectStorage,
    @Inject(INVOICE_URL_TTL_SECONDS) private readonly ttlSeconds: number,
  ) {}

  async linkFor(accountId: string, invoiceId: string): Promise<InvoicePdfLink> {
    // The account id is part of the lookup (I7): another tenant's invoice is simply not found.
    const [invoice] = await this.database.sql<{ number: string; pdf_key: string | null }[]>`
      select number, pdf_key from invoices where id = ${invoiceId} and account_id = ${accountId}`;
    if (!invoice) throw new ApiError(404, 'invoice_not_found', 'no such invoice');
    if (!invoice.pdf_key) {
      throw new ApiError(
        409,
        'invoice_not_rendered',
        'the PDF is still being rendered; try again in a few seconds',
      );
    }
    const link = await this.storage.presignedGetUrl(
      invoice.pdf_key,
      this.ttlSeconds,
      `${invoice.number}.pdf`,
    );
    return { url: link.url, expires_at: link.expiresAt.toISOString() };
  }
}
