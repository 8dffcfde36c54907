import 'reflect-metadata';
import { ingestEnvSchema, loadConfig } from '@app/config';
import { bootLogger, createHttpApp, shedBodiesOverBudget } from '@app/http';
import { BillingMetrics, observeHttpRequests } from '@app/metrics';
import { waitForRedis } from '@app/redis';
import { IngestModule } from './ingest.module';

async function bootstrap(): Promise<void> {
  process.title = 'billing-ingest';
  const config = loadConfig(ingestEnvSchema);
  // Before anything opens a connection: an app started ahead of Redis (a machine booting) waits
  // for it, saying so once, where its first command would have crashed it.
  await waitForRedis(config, { logger: bootLogger(config.LOG_LEVEL, 'Redis') });
  const app = await createHttpApp(IngestModule.register(config), {
    tokens: { adminToken: config.ADMIN_TOKEN, gatewayTokens: config.GATEWAY_TOKENS },
    trustProxy: config.TRUST_PROXY,
    requestLog: config.REQUEST_LOG,
    requestTimeoutMs: config.INGEST_REQUEST_TIMEOUT_MS,
    docs: {
      title: 'Billing gateway API',
      description:
        'Usage ingest, authorize, balances and usage for model gateways. Money is a USD decimal string.',
    },
  });
  observeHttpRequests(app);
  const metrics = app.get(BillingMetrics);
  shedBodiesOverBudget(app, {
    maxBytes: config.INGEST_MAX_BODY_BYTES_IN_FLIGHT,
    applies: (method, url) => method === 'POST' && /^\/v1\/usage\/events(\?|$)/.test(url),
    onHeld: (bytes) => metrics.ingestBodyBytesInFlight.set(bytes),
    onShed: () => {
      metrics.ingestRequestsShed.inc();
      metrics.ingestRequests.inc({ status: '503' });
    },
  });
  await app.listen({ port: config.INGEST_PORT, host: config.HOST });
}

bootstrap().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exit(1);
});
