import 'reflect-metadata';
import { apiEnvSchema, loadConfig } from '@app/config';
import { createHttpApp } from '@app/http';
import { ApiModule } from './api.module';

async function bootstrap(): Promise<void> {
  process.title = 'billing-api';
  const config = loadConfig(apiEnvSchema);
  const app = await createHttpApp(ApiModule.register(config), {
    tokens: { adminToken: config.ADMIN_TOKEN, gatewayTokens: config.GATEWAY_TOKENS },
    trustProxy: config.TRUST_PROXY,
    docs: {
      title: 'Billing admin API',
      description: 'Accounts, credit grants, model prices and reconciliation. Money is a USD decimal string.',
    },
  });
  await app.listen({ port: config.API_PORT, host: config.HOST });
}

bootstrap().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exit(1);
});
