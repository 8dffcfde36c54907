/** An invoice_exports row as the services read it (dates as YYYY-MM-DD, timestamps as Date). */
export interface InvoiceExportRow {
  id: string;
  account_id: string;
  from_date: string;
  to_date: string;
  status: 'pending' | 'ready' | 'failed' | 'expired';
  invoice_count: number | null;
  object_key: string | null;
  sha256: string | null;
  error: string | null;
  created_at: Date;
  completed_at: Date | null;
}

/** The object key of an export's zip: fixed by the export before the first attempt (I5). */
export function invoiceExportKey(accountId: string, exportId: string): string {
  return `exports/${accountId}/invoices-${exportId}.zip`;
}

/** What the API shows of an export; the link only when ready. */
export function invoiceExportView(
  row: InvoiceExportRow,
  link: { url: string; expiresAt: Date } | null = null,
) {
  return {
    id: row.id,
    status: row.status,
    from: row.from_date,
    to: row.to_date,
    invoice_count: row.invoice_count,
    sha256: row.sha256,
    error: row.error,
    created_at: row.created_at.toISOString(),
    completed_at: row.completed_at?.toISOString() ?? null,
    download_url: link?.url ?? null,
    download_expires_at: link?.expiresAt.toISOString() ?? null,
  };
}
