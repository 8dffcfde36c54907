import { z } from 'zod';

const isProduction = process.env.NODE_ENV === 'production';

/** A secret may default to a development value only outside production. */
function secret(devDefault: string) {
  const base = z.string().min(16, 'must be at least 16 characters');
  return isProduction ? base : base.default(devDefault);
}

const port = (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback);

/** Settings every process reads: where the stores are, how it logs. */
export const baseEnvSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  DATABASE_URL: z.string().url().default('postgres://postgres@127.0.0.1:5432/billing'),
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(100).default(10),
  REDIS_URL: z.string().url().default('redis://127.0.0.1:6379'),
  /** Prefix of every Redis key and BullMQ queue, so several deployments or test runs can share one Redis. */
  REDIS_PREFIX: z
    .string()
    .regex(/^[a-z0-9-]+$/, 'lowercase letters, digits and dashes')
    .default('billing'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
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

export const ingestEnvSchema = baseEnvSchema.merge(httpEnvSchema).extend({
  INGEST_PORT: port(3000),
  /** Above this many waiting usage jobs, ingest answers 503 so Redis cannot fill up (noeviction). */
  INGEST_MAX_QUEUED_JOBS: z.coerce.number().int().min(1).default(5000),
  /**
   * How long an accepted event id is remembered in Redis to answer `duplicates`. Redis holds one small key per accepted event for this long (about 100 bytes each, so
   * events/s x window x 100 B of memory); Postgres dedupes forever whatever the window.
   */
  DEDUPE_WINDOW_SECONDS: z.coerce.number().int().min(1).default(120),
});

export const apiEnvSchema = baseEnvSchema
  .merge(httpEnvSchema)
  .merge(stripeEnvSchema)
  .extend({
    API_PORT: port(3001),
  });

export const workerEnvSchema = baseEnvSchema
  .merge(stripeEnvSchema)
  .extend({
    WORKER_METRICS_PORT: port(3002),
    WORKER_METRICS_HOST: z.string().default('127.0.0.1'),
    USAGE_WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(4),
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
    /** Test-only crash points (see libs/usage/src/failpoint.ts); refused in production. */
    FAILPOINT: z.enum(['after-deduct', 'after-commit', 'after-charge']).optional(),
  })
  .refine((env) => !(env.NODE_ENV === 'production' && env.FAILPOINT), {
    message: 'FAILPOINT is for tests and is refused when NODE_ENV=production',
    path: ['FAILPOINT'],
  });

export type BaseEnv = z.infer<typeof baseEnvSchema>;
export type IngestEnv = z.infer<typeof ingestEnvSchema>;
export type ApiEnv = z.infer<typeof apiEnvSchema>;
export type StripeEnv = z.infer<typeof stripeEnvSchema>;
export type WorkerEnv = z.infer<typeof workerEnvSchema>;
