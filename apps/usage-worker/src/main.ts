import 'reflect-metadata';
import { loadConfig, workerEnvSchema } from '@app/config';
import { bootLogger, createHttpApp } from '@app/http';
import { waitForRedis } from '@app/redis';
import { lowerPriority } from './lower-priority';
import { UsageWorkerModule, workerAppName } from './usage-worker.module';

async function bootstrap(): Promise<void> {
  const config = loadConfig(workerEnvSchema);
  process.title = `billing-${workerAppName(config)}`;
  // First thing: threads started from here on inherit it from the main thread.
  lowerPriority(config.USAGE_WORKER_NICE);
  // Before anything opens a connection: an app started ahead of Redis (a machine booting) waits
  // for it, saying so once, where its first command would have crashed it.
  await waitForRedis(config, { logger: bootLogger(config.LOG_LEVEL, 'Redis') });
  // An HTTP server only for /metrics and /health; jobs arrive through BullMQ.
  const app = await createHttpApp(await UsageWorkerModule.register(config), {});
  await app.listen({ port: config.WORKER_METRICS_PORT, host: config.WORKER_METRICS_HOST });
}

bootstrap().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exit(1);
});
