import { DATABASE, DatabaseHandle, decodeKeysetCursor, encodeKeysetCursor, Invoice } from '@app/db';
import { Inject, Injectable } from '@nestjs/common';
import { INVOICE_COLUMNS, InvoiceLineRow, InvoiceRow, invoiceView, InvoiceView } from './invoice-view';

export const MAX_INVOICE_PAGE = 500;
export const INVOICE_STATUSES: readonly Invoice['status'][] = ['paid', 'open', 'overdue', 'void'];
export const INVOICE_KINDS: readonly Invoice['kind'][] = ['purchase', 'auto_reload', 'usage_statement'];

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface InvoiceFilters {
  /** 1..MAX_INVOICE_PAGE. */
  limit: number;
  cursor?: string;
  /** Issued at or after. */
  from?: Date;
  /** Issued before. */
  to?: Date;
  status?: Invoice['status'];
  kind?: Invoice['kind'];
  /** Ops: due on or before this date (YYYY-MM-DD). */
  dueBefore?: string;
}

export interface InvoicePage {
  invoices: InvoiceView[];
  next_cursor: string | null;
}

/** Issued invoices, newest first, keyset-paginated on (issued_at, id) like the audit log. */
@Injectable()
export class InvoiceQueryService {
  constructor(@Inject(DATABASE) private readonly database: DatabaseHandle) {}

  /** One account's invoices; the account id is required (I7). */
  listForAccount(accountId: string, filters: InvoiceFilters): Promise<InvoicePage> {
    return this.page(accountId, filters);
  }

  /** Every account's invoices, for ops (admin token only). */
  listAll(filters: InvoiceFilters & { accountId?: string }): Promise<InvoicePage> {
    return this.page(filters.accountId ?? null, filters);
  }

  /** The invoice with its lines, or null when the account has no such invoice. */
  async find(accountId: string, invoiceId: string): Promise<InvoiceView | null> {
    const { sql } = this.database;
    const [row] = await sql<InvoiceRow[]>`
      select ${sql.unsafe(INVOICE_COLUMNS)} from invoices where id = ${invoiceId} and account_id = ${accountId}`;
    if (!row) return null;
    const lines = await sql<InvoiceLineRow[]>`
      select position, description, model, quantity, amount_micros from invoice_lines
      where invoice_id = ${invoiceId} order by position`;
    return invoiceView(row, lines);
  }

  private async page(accountId: string | null, filters: InvoiceFilters): Promise<InvoicePage> {
    if (!Number.isInteger(filters.limit) || filters.limit < 1 || filters.limit > MAX_INVOICE_PAGE) {
      throw new RangeError(`limit must be an integer from 1 to ${MAX_INVOICE_PAGE}`);
    }
    const { sql } = this.database;
    const cursor = filters.cursor ? decodeKeysetCursor(filters.cursor, (id) => UUID.test(id)) : null;
    const rows = await sql<(InvoiceRow & { issued_at_text: string })[]>`
      select ${sql.unsafe(INVOICE_COLUMNS)},
             to_char(issued_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as issued_at_text
      from invoices
      where true
        ${accountId ? sql`and account_id = ${accountId}` : sql``}
        ${filters.status ? sql`and status = ${filters.status}` : sql``}
        ${filters.kind ? sql`and kind = ${filters.kind}` : sql``}
        ${filters.from ? sql`and issued_at >= ${filters.from}` : sql``}
        ${filters.to ? sql`and issued_at < ${filters.to}` : sql``}
        ${filters.dueBefore ? sql`and due_date <= ${filters.dueBefore}::date` : sql``}
        ${cursor ? sql`and (issued_at, id) < (${cursor.at}::text::timestamptz, ${cursor.id}::uuid)` : sql``}
      order by issued_at desc, id desc
      limit ${filters.limit + 1}`;
    const page = rows.slice(0, filters.limit);
    const last = page[page.length - 1];
    return {
      invoices: page.map((row) => invoiceView(row)),
      next_cursor:
        rows.length > filters.limit && last
          ? encodeKeysetCursor({ at: last.issued_at_text, id: last.id })
          : null,
    };
  }
}
