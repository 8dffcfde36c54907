import { withDeadline } from '@app/http';
import { Logger } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Finer at the bottom: gateways' authorize and balance reads are meant to answer within 2 ms (T4). */
const HTTP_BUCKETS = [0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * How long a scrape waits for a read from Redis or Postgres. prom-client builds the page from all
 * collects at once, so one read that hangs or fails (its store unreachable) would lose every
 * metric, exactly during the outage; well under Prometheus's default 10 s scrape timeout.
 */
export const SCRAPE_READ_DEADLINE_MS = 2000;

/** What `npm run reconcile` records of its pass (libs/ledger ReconcileCliPassStore). */
export interface ReconcileCliPass {
  /** Unix time in seconds. */
  at: number;
  drifted: number;
  driftMicros: bigint;
}

/** Every metric the product exports, named once. Each process registers all; unused ones stay at zero. */
export class BillingMetrics {
  readonly registry = new Registry();

  readonly usageEvents = new Counter({
    name: 'billing_usage_events_total',
    help: 'Usage events seen at ingest by outcome (accepted, duplicate, rejected).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly httpRequestDuration = new Histogram({
    name: 'billing_http_request_duration_seconds',
    help: 'HTTP requests by route template, method and status: from the request reaching the server to its response written (ingest and api).',
    labelNames: ['route', 'method', 'status'] as const,
    buckets: HTTP_BUCKETS,
    registers: [this.registry],
  });

  readonly httpClientErrors = new Counter({
    name: 'billing_http_client_errors_total',
    help: 'Connections answered before a request could be routed, by error code: request_timeout (did not arrive whole in time), headers_too_large, bad_request (malformed HTTP).',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });

  readonly ingestRequests = new Counter({
    name: 'billing_ingest_requests_total',
    help: 'Ingest requests by HTTP status.',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });

  readonly ingestDuration = new Histogram({
    name: 'billing_ingest_request_duration_seconds',
    help: 'Time to validate and enqueue one ingest request.',
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly ingestRequestsShed = new Counter({
    name: 'billing_ingest_requests_shed_total',
    help: 'Ingest requests answered 503 before their body was read: the request bodies in flight would have passed INGEST_MAX_BODY_BYTES_IN_FLIGHT.',
    registers: [this.registry],
  });

  readonly ingestBodyBytesInFlight = new Gauge({
    name: 'billing_ingest_body_bytes_in_flight',
    help: 'Declared body bytes of the ingest requests being read, validated or enqueued now (against INGEST_MAX_BODY_BYTES_IN_FLIGHT).',
    registers: [this.registry],
  });

  readonly authorizeDecisions = new Counter({
    name: 'billing_authorize_decisions_total',
    help: 'Authorize answers by outcome and reason.',
    labelNames: ['outcome', 'reason'] as const,
    registers: [this.registry],
  });

  readonly rateLimitRejections = new Counter({
    name: 'billing_rate_limit_rejections_total',
    help: 'Authorize requests refused by the free-model rate limits, by which limit (per_minute, per_day).',
    labelNames: ['limit'] as const,
    registers: [this.registry],
  });

  readonly batchSize = new Histogram({
    name: 'billing_usage_batch_events',
    help: 'Events per usage batch, observed by the attempt that committed it.',
    buckets: [1, 10, 50, 100, 250, 500, 750, 1000],
    registers: [this.registry],
  });

  readonly groupBatches = new Histogram({
    name: 'billing_usage_group_batches',
    help: 'Queued usage batches charged together in one Redis pass and one transaction (a group), observed by the attempt that committed them.',
    buckets: [1, 2, 3, 4, 6, 8, 12, 16],
    registers: [this.registry],
  });

  readonly deductDuration = new Histogram({
    name: 'billing_usage_deduct_duration_seconds',
    help: 'Time to deduct one usage group in Redis (one Lua call per account, pipelined).',
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly persistDuration = new Histogram({
    name: 'billing_usage_persist_duration_seconds',
    help: 'Time to commit one usage group to Postgres (events, ledger, balances in one transaction).',
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly persistLag = new Histogram({
    name: 'billing_usage_accepted_to_persisted_seconds',
    help: 'From ingest accepting a batch to its Postgres commit, observed by the attempt that committed it (replays are not).',
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly eventsPersisted = new Counter({
    name: 'billing_usage_events_persisted_total',
    help: 'Events committed to Postgres (each exactly once).',
    registers: [this.registry],
  });

  readonly eventsAlreadyStored = new Counter({
    name: 'billing_usage_events_already_stored_total',
    help:
      'Events of a usage batch that Postgres already held (not charged again): a gateway resending ' +
      'after the ingest dedupe window, two ingest processes taking the same event, or a batch ' +
      'delivered again after a worker died between commit and acknowledgement.',
    registers: [this.registry],
  });

  readonly keySpendLoadedAsRead = new Counter({
    name: 'billing_key_spend_loaded_as_read_total',
    help:
      "API-key spend counters created from a Postgres read that the account's batches kept " +
      'overtaking: until its period ends such a counter may count a batch twice or miss one.',
    registers: [this.registry],
  });

  readonly redisStateLoaded = new Counter({
    name: 'billing_redis_state_loaded_total',
    help:
      'State read from Postgres because Redis did not hold it, by kind: balance (after a Redis loss), ' +
      "budget_counter (a month's first batch of an account with budgets, or after a loss), " +
      'key_spend (an API-key limit period first looked at, or after a loss). A burst of balance loads ' +
      'means Redis lost its data.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  readonly eventsChargedMicros = new Counter({
    name: 'billing_usage_charged_micros_total',
    help: 'Micros of usage committed to the ledger.',
    registers: [this.registry],
  });

  readonly batchFailures = new Counter({
    name: 'billing_usage_batch_failures_total',
    help: 'Usage batch attempts that failed and will be retried, by stage.',
    labelNames: ['stage'] as const,
    registers: [this.registry],
  });

  readonly autoReloads = new Counter({
    name: 'billing_auto_reloads_total',
    help: 'Auto-reload outcomes, each counted once per crossing (succeeded, declined, authentication_required, skipped); paused counts the pauses those failures caused.',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly stripeWebhooks = new Counter({
    name: 'billing_stripe_webhooks_total',
    help: 'Stripe webhook deliveries by event type and outcome (handled, ignored, duplicate, failed, invalid_signature).',
    labelNames: ['type', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly disputes = new Counter({
    name: 'billing_disputes_total',
    help: 'Charge disputes opened (charge.dispute.created), each counted once; the account is flagged for review.',
    registers: [this.registry],
  });

  readonly exports = new Counter({
    name: 'billing_exports_total',
    help: 'Exports by kind (usage_csv, invoices_csv, invoice_zip) and outcome (completed; failed; aborted: the client left a CSV download early).',
    labelNames: ['kind', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly exportDuration = new Histogram({
    name: 'billing_export_duration_seconds',
    help: 'Time to stream one CSV export to its client, or to build and upload one invoice zip.',
    labelNames: ['kind'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
    registers: [this.registry],
  });

  readonly invoicesIssued = new Counter({
    name: 'billing_invoices_issued_total',
    help: 'Invoices issued (committed), by kind (purchase, auto_reload, usage_statement).',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  readonly invoiceRenderDuration = new Histogram({
    name: 'billing_invoice_render_duration_seconds',
    help: 'Time to render one invoice PDF, upload it to S3 and record its key and hash.',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  readonly invoiceRenderFailures = new Counter({
    name: 'billing_invoice_render_failures_total',
    help: 'Invoice PDF render attempts that failed (retried by the invoices queue, then by the sweep).',
    registers: [this.registry],
  });

  readonly alertsRaised = new Counter({
    name: 'billing_alerts_raised_total',
    help: 'Alerts raised (inserted once per dedupe key, counted after their transaction committed), by kind.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  readonly alertEmails = new Counter({
    name: 'billing_alert_emails_total',
    help: 'Alert email deliveries by alert kind and outcome (sent; retried: SMTP failed, tried again later; failed: refused for good or interrupted mid-send; suppressed: opted out or over the hourly limit).',
    labelNames: ['kind', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly smtpSendDuration = new Histogram({
    name: 'billing_smtp_send_duration_seconds',
    help: 'One SMTP send (connect to the server accepting the message, or the error), or one outbox file write.',
    labelNames: ['outcome'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  readonly scrapeReadFailures = new Counter({
    name: 'billing_metrics_scrape_read_failures_total',
    help: `Reads at scrape time (queue_jobs and reconcile_cli from Redis, overdue_invoices from Postgres) that failed or took over ${SCRAPE_READ_DEADLINE_MS} ms, by source; their gauges keep the last value read.`,
    labelNames: ['source'] as const,
    registers: [this.registry],
  });

  private readonly logger = new Logger(BillingMetrics.name);
  private readonly failingReads = new Set<string>();

  /** Runs one scrape-time read within the deadline; on failure its gauges keep their last values. */
  private async scrapeRead<T>(source: string, read: () => Promise<T>, show: (value: T) => void) {
    try {
      show(await withDeadline(read(), SCRAPE_READ_DEADLINE_MS));
      if (this.failingReads.delete(source)) this.logger.log(`scrape-time read ${source} works again`);
    } catch (error) {
      this.scrapeReadFailures.inc({ source });
      if (this.failingReads.has(source)) return;
      this.failingReads.add(source);
      this.logger.warn(`scrape-time read ${source} failed, its gauges keep their last values: ${error}`);
    }
  }

  private readonly queueSources = new Map<string, () => Promise<Record<string, number>>>();

  readonly queueJobs: Gauge<'queue' | 'state'> = new Gauge({
    name: 'billing_queue_jobs',
    help: 'Jobs per queue and state, read from Redis at scrape time.',
    labelNames: ['queue', 'state'] as const,
    registers: [this.registry],
    collect: async () => {
      await Promise.all(
        [...this.queueSources].map(([queue, counts]) =>
          this.scrapeRead('queue_jobs', counts, (byState) => {
            for (const [state, count] of Object.entries(byState)) this.queueJobs.set({ queue, state }, count);
          }),
        ),
      );
    },
  });

  readonly driftMicros = new Gauge({
    name: 'billing_balance_drift_micros',
    help: "Sum over accounts of |Redis - Postgres| balance found and repaired by this process's last reconciliation pass.",
    registers: [this.registry],
  });

  readonly driftAccounts = new Gauge({
    name: 'billing_balance_drift_accounts',
    help: "Accounts whose Redis balance differed from Postgres and was repaired in this process's last reconciliation pass.",
    registers: [this.registry],
  });

  /**
   * Passes run in the api (on demand) and in whichever worker takes the job, so each process's
   * drift gauges describe its own last pass: alerts take those of the process that passed last.
   */
  readonly reconcileLastPass = new Gauge({
    name: 'billing_reconcile_last_pass_timestamp_seconds',
    help: 'When this process last completed a reconciliation pass (Unix time; 0: never since it started).',
    registers: [this.registry],
  });

  readonly reconcileRepairs = new Counter({
    name: 'billing_reconcile_repairs_total',
    help: 'Redis balances overwritten from Postgres by the reconciler.',
    registers: [this.registry],
  });

  readonly reconcileOrphansSettled = new Counter({
    name: 'billing_reconcile_orphans_settled_total',
    help: 'Pending Redis changes whose settle never ran (a Redis failover, a process dying mid-grant), settled by the reconciler.',
    registers: [this.registry],
  });

  readonly reconcileOrphansDropped = new Counter({
    name: 'billing_reconcile_orphans_dropped_total',
    help: 'Usage reservations never committed whose batch can never be charged again (job gone after failing for good), undone by the reconciler.',
    registers: [this.registry],
  });

  readonly reconcileRuns = new Counter({
    name: 'billing_reconcile_runs_total',
    help: 'Reconciliation passes completed.',
    registers: [this.registry],
  });

  private cliPassSource: (() => Promise<ReconcileCliPass | null>) | null = null;
  private cliPassRead: Promise<void> | null = null;

  /** One Redis read per scrape sets the three gauges of the command's last pass (as readOverdue). */
  private readCliPass(): Promise<void> | void {
    const source = this.cliPassSource;
    if (!source) return;
    this.cliPassRead ??= this.scrapeRead('reconcile_cli', source, (pass) => {
      this.reconcileCliLastPass.set(pass?.at ?? 0);
      this.reconcileCliDriftMicros.set(Number(pass?.driftMicros ?? 0n));
      this.reconcileCliDriftAccounts.set(pass?.drifted ?? 0);
    }).finally(() => (this.cliPassRead = null));
    return this.cliPassRead;
  }

  /**
   * `npm run reconcile` runs in a process of its own that nothing scrapes: it records its pass in
   * Redis, and the api reads that record at scrape time (watchReconcileCliPass).
   */
  readonly reconcileCliLastPass: Gauge = new Gauge({
    name: 'billing_reconcile_cli_last_pass_timestamp_seconds',
    help: 'When the last `npm run reconcile` pass completed (Unix time; 0: none recorded in Redis), read from Redis at scrape time (api).',
    registers: [this.registry],
    collect: () => this.readCliPass(),
  });

  readonly reconcileCliDriftMicros: Gauge = new Gauge({
    name: 'billing_reconcile_cli_drift_micros',
    help: 'Sum over accounts of |Redis - Postgres| balance found and repaired by the last `npm run reconcile` pass, read from Redis at scrape time (api).',
    registers: [this.registry],
    collect: () => this.readCliPass(),
  });

  readonly reconcileCliDriftAccounts: Gauge = new Gauge({
    name: 'billing_reconcile_cli_drift_accounts',
    help: 'Accounts whose Redis balance differed from Postgres and was repaired in the last `npm run reconcile` pass, read from Redis at scrape time (api).',
    registers: [this.registry],
    collect: () => this.readCliPass(),
  });

  /** Reports the last `npm run reconcile` pass on every scrape; one process (the api) calls this. */
  watchReconcileCliPass(source: () => Promise<ReconcileCliPass | null>): void {
    this.cliPassSource = source;
  }

  /** Reports a queue's job counts by state (BullMQ getJobCounts) on every scrape. */
  watchQueue(queue: string, counts: () => Promise<Record<string, number>>): void {
    this.queueSources.set(queue, counts);
  }

  private overdueSource: (() => Promise<{ count: number; amountMicros: bigint }>) | null = null;
  private overdueRead: Promise<void> | null = null;

  /** One Postgres read per scrape sets both overdue gauges: each one's collect awaits the same read. */
  private readOverdue(): Promise<void> | void {
    const source = this.overdueSource;
    if (!source) return;
    this.overdueRead ??= this.scrapeRead('overdue_invoices', source, (totals) => {
      this.overdueInvoices.set(totals.count);
      this.overdueInvoicesMicros.set(Number(totals.amountMicros));
    }).finally(() => (this.overdueRead = null));
    return this.overdueRead;
  }

  readonly overdueInvoices: Gauge = new Gauge({
    name: 'billing_invoices_overdue',
    help: 'Invoices past their due date and unpaid (status overdue), read from Postgres at scrape time (usage-worker).',
    registers: [this.registry],
    collect: () => this.readOverdue(),
  });

  readonly overdueInvoicesMicros: Gauge = new Gauge({
    name: 'billing_invoices_overdue_micros',
    help: 'Total amount of overdue invoices in micros (USD x 1e6), read from Postgres at scrape time (usage-worker).',
    registers: [this.registry],
    collect: () => this.readOverdue(),
  });

  /** Reports overdue invoices (count and amount) on every scrape; one process (the usage worker) calls this. */
  watchOverdueInvoices(source: () => Promise<{ count: number; amountMicros: bigint }>): void {
    this.overdueSource = source;
  }

  constructor(readonly app: string) {
    this.registry.setDefaultLabels({ app });
    collectDefaultMetrics({ register: this.registry });
    // prom-client names these gauges *_total, which promtool's lint refuses (C5); the rest stay.
    for (const name of [
      'nodejs_active_handles_total',
      'nodejs_active_requests_total',
      'nodejs_active_resources_total',
    ]) {
      this.registry.removeSingleMetric(name);
    }
  }
}
