/**
 * The naive pipeline's consumer, run as its own process by the bench: one BullMQ job per event,
 * and per job one Redis DECRBY and one single-row INSERT. Same rating and the same table shape as
 * the product, none of its batching.
 */
import { Worker } from 'bullmq';
import Redis from 'ioredis';
import postgres from 'postgres';
import { costOf, loadPrices } from './lib/rows';
import type { NaiveJob } from './lib/naive';

async function main(): Promise<void> {
  const env = process.env;
  const concurrency = Number(env.NAIVE_CONCURRENCY ?? 16);
  const table = env.NAIVE_TABLE ?? 'bench_naive';
  const keyPrefix = env.NAIVE_KEY_PREFIX ?? 'bench-naive';
  const sql = postgres(env.DATABASE_URL!, {
    max: concurrency,
    types: { bigint: postgres.BigInt },
    onnotice: () => undefined,
  });
  const redis = new Redis(env.REDIS_URL!, { enableAutoPipelining: true, maxRetriesPerRequest: 2 });
  const prices = await loadPrices(sql);

  const worker = new Worker<NaiveJob>(
    env.NAIVE_QUEUE ?? 'naive-usage',
    async (job) => {
      const e = job.data;
      const price = prices.get(e.model);
      if (!price) throw new Error(`no price for ${e.model}`);
      const cost = costOf(e, price);
      await redis.decrby(`${keyPrefix}:acct:{${e.accountId}}:b`, cost.toString());
      await sql`
        insert into ${sql(table)} (account_id, event_id, api_key_id, project_id, model_id, prompt_tokens,
          completion_tokens, cached_tokens, reasoning_tokens, cost_micros, price_version_id, batch_id,
          metadata, occurred_at, received_at)
        values (${e.accountId}, ${e.id}, ${e.apiKeyId}, ${e.projectId}, ${e.model}, ${e.prompt}, ${e.completion},
          ${e.cached}, ${e.reasoning}, ${cost.toString()}, ${price.id}, ${job.id ?? ''}, ${e.metadata}::text::jsonb,
          ${new Date(e.occurredAtMs)}, ${new Date(e.receivedAt)})
        on conflict (account_id, event_id) do nothing`;
    },
    {
      connection: new Redis(env.REDIS_URL!, { maxRetriesPerRequest: null, enableReadyCheck: false }),
      prefix: env.NAIVE_BULL_PREFIX,
      concurrency,
    },
  );
  worker.on('error', (error) => console.error(`naive worker: ${error.message}`));
  await worker.waitUntilReady();
  console.log('ready');

  const stop = async () => {
    await worker.close(true).catch(() => undefined);
    redis.disconnect();
    await sql.end({ timeout: 2 }).catch(() => undefined);
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exit(1);
});
