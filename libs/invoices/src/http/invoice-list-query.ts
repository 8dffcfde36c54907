import { ApiError, instantQuery, isStorableInstant, pageLimitQuery } from '@app/http';
import { INVOICE_KINDS, INVOICE_STATUSES, InvoiceFilters, MAX_INVOICE_PAGE } from './invoice-query.service';

export interface InvoiceListQueryText {
  from?: string;
  to?: string;
  status?: string;
  kind?: string;
  limit?: string;
  cursor?: string;
  due_before?: string;
}

function oneOf<T extends string>(
  value: string | undefined,
  allowed: readonly T[],
  name: string,
): T | undefined {
  if (value === undefined || value === '') return undefined;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new ApiError(422, 'validation_failed', `${name} must be one of ${allowed.join(', ')}`);
  }
  return value as T;
}

function dateQuery(value: string | undefined, name: string): string | undefined {
  if (value === undefined || value === '') return undefined;
  const ms = Date.parse(`${value}T00:00:00Z`);
  // Date.parse rolls 2026-02-30 over to March; Postgres would refuse it (and year 0).
  if (
    !/^\d{4}-\d{2}-\d{2}$/.test(value) ||
    Number.isNaN(ms) ||
    !isStorableInstant(ms) ||
    new Date(ms).toISOString().slice(0, 10) !== value
  ) {
    throw new ApiError(422, 'validation_failed', `${name} must be a date (YYYY-MM-DD)`);
  }
  return value;
}

/** The filters of an invoice list request; 422 validation_failed for any it cannot read. */
export function invoiceFiltersOf(query: InvoiceListQueryText): InvoiceFilters {
  return {
    limit: pageLimitQuery(query.limit, MAX_INVOICE_PAGE),
    cursor: query.cursor || undefined,
    from: instantQuery(query.from, 'from'),
    to: instantQuery(query.to, 'to'),
    status: oneOf(query.status, INVOICE_STATUSES, 'status'),
    kind: oneOf(query.kind, INVOICE_KINDS, 'kind'),
    dueBefore: dateQuery(query.due_before, 'due_before'),
  };
}
