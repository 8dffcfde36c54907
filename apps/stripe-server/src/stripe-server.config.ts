import { z } from 'zod';

/** docker-compose passes `VAR=` for unset optional variables; treat that as absent. */
const blankAsUndefined = (value: unknown) => (value === '' ? undefined : value);

const flag = z
  .enum(['true', 'false', '1', '0'])
  .default('false')
  .transform((value) => value === 'true' || value === '1');

/**
 * The Stripe-compatible test server's settings (C2). Read once at boot by loadConfig; a bad value
 * stops the process with a message naming it.
 */
export const stripeServerEnvSchema = z.object({
  STRIPE_SERVER_PORT: z.coerce.number().int().min(0).max(65535).default(12111),
  STRIPE_SERVER_HOST: z.string().min(1).default('127.0.0.1'),
  /** Where events are POSTed (the product's webhook endpoint); unset: events are only recorded. */
  STRIPE_WEBHOOK_URL: z.preprocess(blankAsUndefined, z.string().url().optional()),
  STRIPE_WEBHOOK_SECRET: z
    .string()
    .regex(/^whsec_\S{8,}$/, 'must look like whsec_… (at least 8 characters after the prefix)')
    .default('whsec_dev_secret_change_me'),
  /** 10 attempts from 0.5 s doubling (capped at 30 s) span about 2 minutes: a restarting consumer gets every event. */
  STRIPE_WEBHOOK_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(50).default(10),
  STRIPE_WEBHOOK_RETRY_BASE_MS: z.coerce.number().int().min(1).default(500),
  STRIPE_WEBHOOK_RETRY_MAX_MS: z.coerce.number().int().min(1).default(30_000),
  /** Deliver every event twice, so consumers prove their webhook handling is idempotent. */
  STRIPE_WEBHOOK_DUPLICATE_DELIVERY: flag,
  /** One log line per API request. */
  STRIPE_SERVER_LOG_REQUESTS: flag,
});

export type StripeServerEnv = z.infer<typeof stripeServerEnvSchema>;
