import { loadConfig } from '@app/config';
import { createStripeServer } from '@app/stripe-server';
import { stripeServerEnvSchema } from './stripe-server.config';

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

async function bootstrap(): Promise<void> {
  process.title = 'billing-stripe-server';
  const config = loadConfig(stripeServerEnvSchema);
  const log = (line: string) => console.log(`[stripe-server] ${line}`);
  const server = createStripeServer({
    webhookUrl: config.STRIPE_WEBHOOK_URL,
    webhookSecret: config.STRIPE_WEBHOOK_SECRET,
    webhookMaxAttempts: config.STRIPE_WEBHOOK_MAX_ATTEMPTS,
    webhookRetryBaseMs: config.STRIPE_WEBHOOK_RETRY_BASE_MS,
    webhookRetryMaxMs: config.STRIPE_WEBHOOK_RETRY_MAX_MS,
    webhookDuplicateDelivery: config.STRIPE_WEBHOOK_DUPLICATE_DELIVERY,
    log: config.STRIPE_SERVER_LOG_REQUESTS
      ? log
      : (line) => (/^(GET|POST|DELETE) /.test(line) ? undefined : log(line)),
  });
  const url = await server.listen(config.STRIPE_SERVER_PORT, config.STRIPE_SERVER_HOST);
  // Before the "listening" line: whoever waits for that line may signal the process at once, and
  // a signal that came between the write and these handlers killed it (exit by signal, not 0).
  let stopping = false;
  for (const signal of SIGNALS) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      void server.close().then(() => process.exit(0));
    });
  }
  log(`Stripe-compatible TEST server (in-memory, not Stripe) listening on ${url}`);
  log(`webhooks: ${config.STRIPE_WEBHOOK_URL ?? 'not delivered (STRIPE_WEBHOOK_URL unset)'}`);
}

bootstrap().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exit(1);
});
