import { z } from 'zod';

const isProduction = process.env.NODE_ENV === 'production';

/** A secret may default to a development value only outside production. */
function secret(devDefault: string) {
  const base = z.string().min(16, 'must be at least 16 characters');
  return isProduction ? base : base.default(devDefault);
}

const port = (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback);

/** REDIS_COMMAND_TIMEOUT_MS by default; also for connections opened without the setting (tests, tools). */
export const DEFAULT_REDIS_COMMAND_TIMEOUT_MS = 3_000;

/** Settings every process reads: where the stores are, how it logs. */
export const baseEnvSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  DATABASE_URL: z.string().url().default('postgres://postgres@127.0.0.1:5432/billing'),
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(100).default(10),
  REDIS_URL: z.string().url().default('redis://127.0.0.1:6379'),
  /** REDIS_URL names a node of a Redis Cluster: connect to the cluster (every script stays in one slot). */
  REDIS_CLUSTER: z
    .enum(['true', 'false'])
    .default('false')
    .transform((value) => value === 'true'),
  /**
   * How long a command may wait for Redis's answer on the fail-fast connections (never a BullMQ
   * worker's) before it fails as Redis being unavailable (503 on a request): a Redis that stalls
   * with its connections open (stopped, swapping, a path that drops packets, a slow script) would
   * otherwise hold every request until its client gave up. See openRedis (libs/redis).
   */
  REDIS_COMMAND_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(500)
    .max(600_000)
    .default(DEFAULT_REDIS_COMMAND_TIMEOUT_MS),
  /** Prefix of every Redis key and BullMQ queue, so several deployments or test runs can share one Redis. */
  REDIS_PREFIX: z
    .string()
    .regex(/^[a-z0-9-]+$/, 'lowercase letters, digits and dashes')
    .default('billing'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /**
   * Each process's catalog cache (accounts, prices, keys, projects, alert rules) reloads what
   * changed at least this often, besides on every change's notice: the bound on how long a
   * change whose notice was lost (the writer died right after its commit, before Redis was back
   * for its background announce) goes unseen.
   */
  CATALOG_RESYNC_MS: z.coerce.number().int().min(1000).default(30_000),
  /** Where customers reach the api; invoice emails link to `<it>/v1/accounts/:id/invoices/:invoiceId/pdf`. Empty: no link. */
  PUBLIC_API_URL: z.union([z.literal(''), z.string().url()]).default('http://127.0.0.1:3001'),
});

/** HTTP apps: who may call them. Tokens are compared in constant time (libs/http). */
export const httpEnvSchema = z.object({
  ADMIN_TOKEN: secret('dev-admin-token-change-me'),
  GATEWAY_TOKENS: secret('dev-gateway-token-change-me').transform((value, ctx) => {
    const tokens = value
      .split(',')
      .map((token) => token.trim())
      .filter(Boolean);
    if (tokens.some((token) => token.length < 16)) {
      ctx.addIssue({ code: 'custom', message: 'every token must be at least 16 characters' });
    }
    return tokens;
  }),
  HOST: z.string().default('127.0.0.1'),
  /**
   * Which answered requests get a log line (at LOG_LEVEL info): all, errors (status 400 and up),
   * or off. At thousands of gateway reads a second, lines for every 200 cost a quarter more CPU per
   * read and say little that billing_http_request_duration_seconds does not.
   */
  REQUEST_LOG: z.enum(['all', 'errors', 'off']).default('all'),
  /**
   * Which proxies' X-Forwarded-For to believe for the client address (IP allowlists, audit log):
   * "false" (default: the socket address), "true" (any), or a comma-separated list of addresses,
   * CIDRs or the names loopback / linklocal / uniquelocal (Fastify trustProxy).
   */
  TRUST_PROXY: z
    .string()
    .default('false')
    .transform((value): boolean | string => (value === 'true' ? true : value === 'false' ? false : value)),
  /** Free-model request limits per account (libs/access TierPolicy). */
  FREE_MODEL_REQUESTS_PER_MINUTE: z.coerce.number().int().min(1).default(20),
  FREE_MODEL_REQUESTS_PER_DAY: z.coerce.number().int().min(1).default(50),
  /** The daily limit once the account has bought FREE_MODEL_PURCHASE_THRESHOLD_USD of credits, ever. */
  FREE_MODEL_REQUESTS_PER_DAY_AFTER_PURCHASE: z.coerce.number().int().min(1).default(1000),
  FREE_MODEL_PURCHASE_THRESHOLD_USD: z
    .string()
    .regex(/^\d{1,12}(\.\d{1,6})?$/, 'a decimal USD amount, e.g. 10.00')
    .default('10.00'),
});

/** Stripe, reached only through the official SDK; by default the repo's own test server (apps/stripe-server). */
export const stripeEnvSchema = z.object({
  STRIPE_SECRET_KEY: secret('sk_test_local_stripe_server'),
  /** Where the SDK sends requests; empty means Stripe itself (api.stripe.com). */
  STRIPE_API_URL: z.union([z.literal(''), z.string().url()]).default('http://127.0.0.1:12111'),
  STRIPE_WEBHOOK_SECRET: secret('whsec_dev_secret_change_me'),
  /** Smallest and largest credit purchase, USD. */
  PURCHASE_MIN_USD: z
    .string()
    .regex(/^\d{1,12}(\.\d{1,2})?$/, 'a USD amount in whole cents')
    .default('5.00'),
  PURCHASE_MAX_USD: z
    .string()
    .regex(/^\d{1,12}(\.\d{1,2})?$/, 'a USD amount in whole cents')
    .default('25000.00'),
});

/**
 * S3-compatible object storage (libs/storage): invoice PDFs, exports, tax-exemption documents.
 * By default a local s3rver that `npm start` runs itself (scripts/start-all); docker-compose uses
 * MinIO. S3_ENDPOINT empty means AWS S3 itself.
 */
export const storageEnvSchema = z.object({
  S3_ENDPOINT: z.union([z.literal(''), z.string().url()]).default('http://127.0.0.1:4569'),
  /**
   * The endpoint download links are signed for, when users reach S3 by another address than the
   * apps do (docker-compose: the apps use http://minio:9000, a browser http://127.0.0.1:9000).
   * Empty: S3_ENDPOINT.
   */
  S3_PUBLIC_ENDPOINT: z.union([z.literal(''), z.string().url()]).default(''),
  S3_REGION: z.string().min(1).default('us-east-1'),
  S3_BUCKET: z.string().min(3).default('billing'),
  S3_ACCESS_KEY_ID: isProduction ? z.string().min(1) : z.string().min(1).default('S3RVER'),
  S3_SECRET_ACCESS_KEY: isProduction ? z.string().min(1) : z.string().min(1).default('S3RVER'),
  /** Path-style URLs (http://host/bucket/key): needed by s3rver and MinIO; AWS takes either. */
  S3_FORCE_PATH_STYLE: z
    .enum(['true', 'false'])
    .default('true')
    .transform((value) => value === 'true'),
  /**
   * Milliseconds an S3 request may wait for its connection, and for the next byte of a started
   * request (reset by every byte, so a long upload that keeps moving is fine). Without them a
   * store that stops answering holds an invoice render or an export job forever.
   */
  S3_CONNECT_TIMEOUT_MS: z.coerce.number().int().positive().default(5_000),
  S3_REQUEST_TIMEOUT_MS: z.coerce.number().int().positive().default(60_000),
});

/**
 * Sales tax on purchases (libs/invoices/src/tax): rate files read once at boot, so a rate change
 * is a file edit and a restart. Relative paths are from the working directory (the repo root).
 */
export const taxEnvSchema = z.object({
  /** U.S. statewide base rates (state code, name, rate in percent, effective date). */
  TAX_US_RATES_FILE: z.string().min(1).default('data/tax/us-states.json'),
  /** Other countries' rates by ISO 3166-1 alpha-2 code; a country not listed is not taxed. */
  TAX_COUNTRY_RATES_FILE: z.string().min(1).default('data/tax/countries.json'),
  /** Overrides or adds country rates in percent, e.g. "DE:19,GB:20,FR:20". */
  TAX_COUNTRY_RATES: z
    .string()
    .regex(
      /^$|^[A-Za-z]{2}:\d{1,2}(\.\d{1,4})?(,[A-Za-z]{2}:\d{1,2}(\.\d{1,4})?)*$/,
      'CC:percent pairs, e.g. DE:19,GB:20',
    )
    .default(''),
  /** Largest tax-exemption document accepted (PDF, PNG or JPEG). */
  TAX_EXEMPTION_MAX_BYTES: z.coerce.number().int().min(1024).max(52428800).default(10485760),
});

/**
 * Alert emails (libs/notifications). SMTP_URL (smtp:// or smtps://user:pass@host:port) or
 * SMTP_HOST with the other SMTP_* parts; with neither, mail is written as .eml files to
 * MAIL_OUTBOX_DIR and logged instead of sent.
 */
export const mailEnvSchema = z.object({
  SMTP_URL: z
    .union([z.literal(''), z.string().regex(/^smtps?:\/\//, 'an smtp:// or smtps:// URL')])
    .default(''),
  SMTP_HOST: z.string().default(''),
  SMTP_PORT: z.coerce.number().int().min(1).max(65535).default(587),
  SMTP_USER: z.string().default(''),
  SMTP_PASSWORD: z.string().default(''),
  /** true: TLS from the first byte (port 465); false: STARTTLS when the server offers it. */
  SMTP_SECURE: z
    .enum(['true', 'false'])
    .default('false')
    .transform((value) => value === 'true'),
  /** Connect, greeting and socket timeouts of one SMTP conversation. */
  SMTP_TIMEOUT_MS: z.coerce.number().int().min(100).default(20000),
  MAIL_FROM: z.string().min(3).default('LLM Credit Billing <billing@example.com>'),
  MAIL_OUTBOX_DIR: z.string().min(1).default('.data/outbox'),
  /** Emails per account per rolling hour; beyond it deliveries are recorded `suppressed`. */
  EMAIL_ACCOUNT_HOURLY_LIMIT: z.coerce.number().int().min(1).default(30),
  /** A delivery left `sending` this long by a dead worker is closed as failed (never resent). */
  EMAIL_SENDING_STALE_MS: z.coerce.number().int().min(100).default(600000),
  /** How often the worker looks for alerts whose emails were never enqueued or are still pending; 0 disables. */
  ALERT_EMAIL_SWEEP_INTERVAL_MS: z.coerce.number().int().min(0).default(60000),
  /** Alerts (and pending deliveries) at least this old are swept, so the raiser's own enqueue goes first. */
  ALERT_EMAIL_SWEEP_AGE_MS: z.coerce.number().int().min(0).default(60000),
});

export const ingestEnvSchema = baseEnvSchema.merge(httpEnvSchema).extend({
  INGEST_PORT: port(3000),
  /** Above this many waiting usage jobs, ingest answers 503 so Redis cannot fill up (noeviction). */
  INGEST_MAX_QUEUED_JOBS: z.coerce.number().int().min(1).default(5000),
  /**
   * Most request-body bytes (as declared by Content-Length) that POST /v1/usage/events holds at
   * once; a request that would pass it is answered 503 with Retry-After before its body is read.
   */
  INGEST_MAX_BODY_BYTES_IN_FLIGHT: z.coerce
    .number()
    .int()
    .min(1)
    .default(32 * 1024 * 1024),
  /**
   * A request must arrive whole (headers and body) within this long, or ingest answers 408 and
   * closes the connection: a gateway sending slowly cannot hold its share of the body budget.
   */
  INGEST_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(100).default(30_000),
  /**
   * How long an accepted event id is remembered in Redis to answer `duplicates`. Redis holds one small key per accepted event for this long (about 100 bytes each, so
   * events/s x window x 100 B of memory); Postgres dedupes forever whatever the window.
   */
  DEDUPE_WINDOW_SECONDS: z.coerce.number().int().min(1).default(120),
});

/** Test-only crash points (see libs/usage/src/failpoint.ts); refused in production. */
const failpoint = z
  .enum([
    'after-deduct',
    'after-commit',
    'after-group-settle',
    'after-settles-held',
    'after-charge',
    'after-card-removed',
    'mid-render',
    'after-smtp-send',
    'after-statement-commit',
  ])
  .optional();
const noFailpointInProduction = (env: { NODE_ENV: string; FAILPOINT?: string }) =>
  !(env.NODE_ENV === 'production' && env.FAILPOINT);
const failpointInProduction = {
  message: 'FAILPOINT is for tests and is refused when NODE_ENV=production',
  path: ['FAILPOINT'],
};

export const apiEnvSchema = baseEnvSchema
  .merge(httpEnvSchema)
  .merge(stripeEnvSchema)
  .merge(storageEnvSchema)
  .merge(taxEnvSchema)
  .extend({
    API_PORT: port(3001),
    /** Lifetime of a presigned invoice PDF download link. */
    INVOICE_URL_TTL_SECONDS: z.coerce.number().int().min(1).max(604800).default(300),
    /** Longest a usage summary may run in Postgres before it is cancelled (503 summary_timeout). */
    USAGE_SUMMARY_TIMEOUT_MS: z.coerce.number().int().min(1).max(600000).default(30000),
    FAILPOINT: failpoint,
  })
  .refine(noFailpointInProduction, failpointInProduction);

/** Queued usage batches a worker charges together by default (USAGE_BATCHES_PER_GROUP; the bench sizes its backlog by it). */
export const DEFAULT_USAGE_BATCHES_PER_GROUP = 16;

/**
 * The most USAGE_BATCHES_PER_GROUP allows. A group's costliest possible sum (32 batches of 1,000
 * events at $100,000,000 each, 3.2e18 micros) stays inside 64 bits (README, Money). Since the usage
 * worker loads only the metering code (WORKER_ROLE=usage), 32 fits T5 on its own: 252-279 MiB of
 * RSS at full load against 217-242 with 16, for 6% more events/s in 40 s runs taken in turns
 * (17% in 25 s runs; 2026-12-05 evening). The default stays 16, which leaves room for bursts.
 */
export const MAX_USAGE_BATCHES_PER_GROUP = 32;
/**
 * How long a batch that could start a group waits for others (USAGE_GROUP_LINGER_MS; the bench
 * prints it). Below full load this is what makes groups form: at half the bench's maximum, 100 ms
 * gave groups of 8 batches instead of 1.5 and took the machine from 79-81% to 68-69% busy, for
 * about 75 ms more accepted-to-persisted lag (p99 225 ms; T3 allows 1 s). At full load groups
 * fill before it runs out.
 */
export const DEFAULT_USAGE_GROUP_LINGER_MS = 100;

/**
 * The worker's Stripe and S3 secrets. Only its background jobs call Stripe (auto-reload charges)
 * or S3 (invoice PDFs, exports), so in production a usage worker (WORKER_ROLE=usage) starts
 * without them and the metering process never holds a payment or storage key; a background or
 * `all` worker is refused without them (checked below). Outside production the field is as the
 * api reads it, development default included.
 */
function backgroundSecret(field: z.ZodString | z.ZodDefault<z.ZodString>) {
  return isProduction ? z.union([z.literal(''), field]).default('') : field;
}
const BACKGROUND_SECRETS = [
  'STRIPE_SECRET_KEY',
  'STRIPE_WEBHOOK_SECRET',
  'S3_ACCESS_KEY_ID',
  'S3_SECRET_ACCESS_KEY',
] as const;

export const workerEnvSchema = baseEnvSchema
  .merge(stripeEnvSchema)
  .merge(storageEnvSchema)
  .merge(mailEnvSchema)
  .merge(taxEnvSchema)
  .extend({
    STRIPE_SECRET_KEY: backgroundSecret(stripeEnvSchema.shape.STRIPE_SECRET_KEY),
    STRIPE_WEBHOOK_SECRET: backgroundSecret(stripeEnvSchema.shape.STRIPE_WEBHOOK_SECRET),
    S3_ACCESS_KEY_ID: backgroundSecret(storageEnvSchema.shape.S3_ACCESS_KEY_ID),
    S3_SECRET_ACCESS_KEY: backgroundSecret(storageEnvSchema.shape.S3_SECRET_ACCESS_KEY),
    WORKER_METRICS_PORT: port(3002),
    WORKER_METRICS_HOST: z.string().default('127.0.0.1'),
    /**
     * Which jobs this worker process runs: `usage` the usage batches only (metering), `background`
     * every other job (auto-reload charges, invoice PDFs and exports, alert emails, maintenance),
     * `all` both. npm start and docker-compose.yml run one `usage` and one `background` process.
     */
    WORKER_ROLE: z.enum(['all', 'usage', 'background']).default('all'),
    /** Usage groups (several queued batches charged together) each worker process meters at once. */
    USAGE_WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(2),
    /**
     * Most queued batches charged together: one Redis pass and one Postgres transaction for all
     * of them, so each account's per-batch work is shared (1 charges every batch alone).
     */
    USAGE_BATCHES_PER_GROUP: z.coerce
      .number()
      .int()
      .min(1)
      .max(MAX_USAGE_BATCHES_PER_GROUP)
      .default(DEFAULT_USAGE_BATCHES_PER_GROUP),
    /** How long a batch that could start a group now waits for others to join it (0: never). */
    USAGE_GROUP_LINGER_MS: z.coerce.number().int().min(0).max(1000).default(DEFAULT_USAGE_GROUP_LINGER_MS),
    /**
     * Nice value the worker runs at (0 = as started, 19 = lowest). Where it shares cores with
     * ingest and Redis, the answers gateways wait for come before batches that can wait.
     */
    USAGE_WORKER_NICE: z.coerce.number().int().min(0).max(19).default(10),
    /** BullMQ lock; a job whose worker died is redelivered after at most about this long. */
    USAGE_LOCK_DURATION_MS: z.coerce.number().int().min(1000).default(30000),
    /** BullMQ lock of auto-reload charges: long enough for a slow Stripe call; a dead worker's charge resumes after about this long. */
    PAYMENTS_LOCK_DURATION_MS: z.coerce.number().int().min(1000).default(120000),
    /** A usage batch still running after this long is failed and retried (it is idempotent), so a hung connection cannot wedge it. */
    USAGE_JOB_TIMEOUT_MS: z.coerce.number().int().min(1000).default(60000),
    RECONCILE_INTERVAL_MS: z.coerce.number().int().min(0).default(60000),
    /** Audit rows are kept this many days by the account's current tier (libs/audit). */
    AUDIT_RETENTION_FREE_DAYS: z.coerce.number().int().min(1).default(30),
    AUDIT_RETENTION_DEVELOPER_DAYS: z.coerce.number().int().min(1).default(90),
    AUDIT_RETENTION_ENTERPRISE_DAYS: z.coerce.number().int().min(1).default(400),
    /** How often expired audit rows are pruned; 0 disables pruning. */
    AUDIT_PRUNE_INTERVAL_MS: z.coerce.number().int().min(0).default(3600000),
    /**
     * Invoice billing: how often the worker issues missing usage statements of the previous month
     * (so the 1st's run is caught up if missed) and marks past-due invoices overdue; 0 disables.
     */
    INVOICE_STATEMENT_INTERVAL_MS: z.coerce.number().int().min(0).default(3600000),
    INVOICE_OVERDUE_INTERVAL_MS: z.coerce.number().int().min(0).default(3600000),
    /** Invoice export zips are deleted from S3 this many days after they were built (status expired). */
    INVOICE_EXPORT_RETENTION_DAYS: z.coerce.number().int().min(1).default(7),
    /** How often expired export zips are deleted; 0 disables. */
    INVOICE_EXPORT_PRUNE_INTERVAL_MS: z.coerce.number().int().min(0).default(3600000),
    /** The seller printed on invoice PDFs; an address line per `|`. An empty tax id is left out. */
    INVOICE_SELLER_NAME: z.string().min(1).default('LLM Credit Billing'),
    INVOICE_SELLER_ADDRESS: z.string().default('548 Market Street|San Francisco, CA 94104|United States'),
    INVOICE_SELLER_EMAIL: z.string().default('billing@example.com'),
    INVOICE_SELLER_TAX_ID: z.string().default(''),
    /** How often the worker looks for invoices without a PDF (a crash between commit and enqueue); 0 disables. */
    INVOICE_RENDER_SWEEP_INTERVAL_MS: z.coerce.number().int().min(0).default(30000),
    /** Only invoices issued at least this long ago are swept, so the issuer's own enqueue goes first. */
    INVOICE_RENDER_SWEEP_AGE_SECONDS: z.coerce.number().int().min(0).default(30),
    /** How often the worker finishes auto-reloads left pending by jobs that gave up; 0 disables. */
    AUTO_RELOAD_SWEEP_INTERVAL_MS: z.coerce.number().int().min(0).default(300000),
    /** Only auto-reloads pending at least this long are swept: longer than a job's attempts take. */
    AUTO_RELOAD_SWEEP_AGE_MS: z.coerce.number().int().min(0).default(1800000),
    FAILPOINT: failpoint,
  })
  .refine(noFailpointInProduction, failpointInProduction)
  .superRefine((env, ctx) => {
    if (env.WORKER_ROLE === 'usage') return;
    for (const name of BACKGROUND_SECRETS) {
      // Empty only in production, where it has no default (backgroundSecret).
      if (env[name] === '') {
        ctx.addIssue({
          code: 'custom',
          path: [name],
          message: `required in production unless WORKER_ROLE=usage (role ${env.WORKER_ROLE})`,
        });
      }
    }
  });

export type BaseEnv = z.infer<typeof baseEnvSchema>;
export type IngestEnv = z.infer<typeof ingestEnvSchema>;
export type ApiEnv = z.infer<typeof apiEnvSchema>;
export type StripeEnv = z.infer<typeof stripeEnvSchema>;
export type WorkerEnv = z.infer<typeof workerEnvSchema>;
export type StorageEnv = z.infer<typeof storageEnvSchema>;
export type MailEnv = z.infer<typeof mailEnvSchema>;
export type TaxEnv = z.infer<typeof taxEnvSchema>;
