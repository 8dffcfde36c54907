import 'reflect-metadata';
import { ingestEnvSchema, loadConfig } from '@app/config';
import { createHttpApp } from '@app/http';
import { IngestModule } from './ingest.module';

async function bootstrap(): Promise<void> {
  process.title = 'billing-ingest';
  const config = loadConfig(ingestEnvSchema);
  const app = await createHttpApp(IngestModule.register(config), {
    tokens: { adminToken: config.ADMIN_TOKEN, gatewayTokens: config.GATEWAY_TOKENS },
    trustProxy: config.TRUST_PROXY,
    docs: {
      title: 'Billing gateway API',
      description:
        'Usage ingest, authorize, balances and usage for model gateways. Money is a USD decimal string.',
    },
  });
  await app.listen({ port: config.INGEST_PORT, host: config.HOST });
}

bootstrap().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exit(1);
});
