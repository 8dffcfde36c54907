import { JobName } from './queue-names';

/** One usage event as accepted at ingest (validated; occurred_at normalised to epoch ms). */
export interface UsageEventPayload {
  id: string;
  account_id: string;
  model: string;
  prompt_tokens: number;
  completion_tokens: number;
  cached_tokens: number;
  reasoning_tokens: number;
  api_key_id?: string;
  project_id?: string;
  occurred_at: number;
  metadata?: Record<string, unknown>;
}

/**
 * A usage batch's events in columns, as ingest queues them: event i is position i of each
 * per-event column; account, model, API key and project are positions in lists of their distinct
 * values (-1: none). A third of the bytes of the same events as objects, and read without an
 * object per event (usage-batch-columns.ts).
 */
export interface UsageBatchColumns {
  accounts: string[];
  models: string[];
  apiKeys: string[];
  projects: string[];
  id: string[];
  account: number[];
  model: number[];
  apiKey: number[];
  project: number[];
  promptTokens: number[];
  completionTokens: number[];
  cachedTokens: number[];
  reasoningTokens: number[];
  /** Epoch ms. */
  occurredAt: number[];
  /** Present only when some event has metadata; null for the others. */
  metadata?: (Record<string, unknown> | null)[];
}

export interface MeterUsageBatchPayload {
  /** Also the job id and the cause named by the batch's ledger rows (usage:<batchId>:<account>). */
  batchId: string;
  /** Epoch ms when ingest accepted the request; the start of accepted-to-persisted lag. */
  receivedAt: number;
  /** What ingest queues (2026-12-05 on). */
  columns?: UsageBatchColumns;
  /** What ingest queued before: still read, for jobs queued by an older ingest. */
  events?: UsageEventPayload[];
}

/** One auto-reload crossing of an account (libs/ledger reserve-change.lua numbers them). */
export interface AutoReloadPayload {
  accountId: string;
  /** The account's crossing number; with the account it names the job, the purchase and the charge. */
  crossing: number;
}

/** Render (or re-render) one invoice's PDF to S3. */
export interface RenderInvoicePayload {
  invoiceId: string;
  /** Render and upload again even when a PDF is recorded (same bytes: the render is reproducible). */
  force?: boolean;
}

/** The emails of one alert (libs/notifications): one job per alert, id alertEmailJobId(alertId). */
export interface SendAlertEmailPayload {
  alertId: string;
}

/** Build the zip of an invoice export (libs/invoices exports); job id invoiceExportJobId(exportId). */
export interface BuildInvoiceExportPayload {
  exportId: string;
  accountId: string;
}

/** Which delivery of a job a handler is running; a handler may act differently on the last one. */
export interface JobAttempt {
  /** 1 for the first delivery. */
  attempt: number;
  /** No retry follows if this attempt throws. */
  lastAttempt: boolean;
  /** Neither a retry nor a redelivery after a stall: no earlier attempt of the job ever ran. */
  firstDelivery: boolean;
}

/** Payload types looked up by job name, declared once. */
export interface JobPayloads {
  [JobName.MeterUsageBatch]: MeterUsageBatchPayload;
  [JobName.ReconcileBalances]: Record<string, never>;
  [JobName.PruneAuditLog]: Record<string, never>;
  [JobName.PruneInvoiceExports]: Record<string, never>;
  [JobName.AutoReload]: AutoReloadPayload;
  /** Finishes auto-reloads left pending by jobs that gave up (libs/payments SweepAutoReloadsService). */
  [JobName.SweepAutoReloads]: Record<string, never>;
  [JobName.RenderInvoice]: RenderInvoicePayload;
  [JobName.SendAlertEmail]: SendAlertEmailPayload;
  [JobName.SweepAlertEmails]: Record<string, never>;
  /** Issues the previous month's missing usage statements (libs/invoices statements). */
  [JobName.IssueUsageStatements]: Record<string, never>;
  [JobName.MarkOverdueInvoices]: Record<string, never>;
  [JobName.BuildInvoiceExport]: BuildInvoiceExportPayload;
}

export type JobOf<N extends keyof JobPayloads> = JobPayloads[N];
