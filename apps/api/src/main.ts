import 'reflect-metadata';
import { apiEnvSchema, loadConfig } from '@app/config';
import { bootLogger, createHttpApp } from '@app/http';
import { observeHttpRequests } from '@app/metrics';
import { waitForRedis } from '@app/redis';
import multipart from '@fastify/multipart';
import { ApiModule } from './api.module';

async function bootstrap(): Promise<void> {
  process.title = 'billing-api';
  const config = loadConfig(apiEnvSchema);
  // Before anything opens a connection: an app started ahead of Redis (a machine booting) waits
  // for it, saying so once, where its first command would have crashed it.
  await waitForRedis(config, { logger: bootLogger(config.LOG_LEVEL, 'Redis') });
  const app = await createHttpApp(ApiModule.register(config), {
    tokens: { adminToken: config.ADMIN_TOKEN, gatewayTokens: config.GATEWAY_TOKENS },
    trustProxy: config.TRUST_PROXY,
    requestLog: config.REQUEST_LOG,
    docs: {
      title: 'Billing admin API',
      description: 'Accounts, credit grants, model prices and reconciliation. Money is a USD decimal string.',
    },
  });
  observeHttpRequests(app);
  // Tax-exemption documents (libs/invoices): read with request.file(), one file part, size limited per route.
  await app.register(multipart, { limits: { files: 1, fileSize: config.TAX_EXEMPTION_MAX_BYTES } });
  await app.listen({ port: config.API_PORT, host: config.HOST });
}

bootstrap().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exit(1);
});
