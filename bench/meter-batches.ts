/**
 * The usage worker's hot path alone, for before/after numbers of a change to it: the bench's
 * batches (same generator, same 5,000 Zipf accounts) metered one after another in this process by
 * the real MeterUsageBatchService (Redis reserve, Postgres commit, settle) against a database and
 * Redis prefix of its own. It prints the CPU that the worker code, Postgres and Redis each spend
 * per batch. With one batch at a time nothing competes for the two cores, so these numbers move
 * by a few percent between runs where the full bench's throughput moves by 10-20%.
 *
 *   npm run bench:meter    (METER_BATCHES, METER_BATCH_SIZE, BENCH_ACCOUNTS, BENCH_PG_URL, BENCH_REDIS_URL)
 */
import { CatalogCache } from '@app/catalog';
import { openDatabase } from '@app/db';
import { BalanceRepository, BalanceStore, DeferredSettles } from '@app/ledger';
import { BillingMetrics } from '@app/metrics';
import {
  MeterUsageBatchPayload,
  newUsageBatchId,
  QueueName,
  usageBatchColumns,
  UsageEventPayload,
} from '@app/queue';
import { openRedis, RedisKeys } from '@app/redis';
import { MeterUsageBatchService, UsageBatchRepository } from '@app/usage';
import { Queue } from 'bullmq';
import { BENCH_MODELS, UsageTraffic } from './lib/events';
import { BenchStack } from './lib/stack';
import { envInt, fmtInt, processCpuMs, round, runBenchMain } from './lib/util';

/** An event of a request body, as the load generator writes it. */
type RawEvent = Omit<UsageEventPayload, 'occurred_at' | 'cached_tokens' | 'reasoning_tokens'> & {
  occurred_at?: string;
  cached_tokens?: number;
  reasoning_tokens?: number;
};

async function main(): Promise<void> {
  const batches = envInt('METER_BATCHES', 300);
  const batchSize = envInt('METER_BATCH_SIZE', 550);
  const stack = BenchStack.withoutWorkers();
  const database = openDatabase(stack.databaseUrl, 4);
  const redis = openRedis({ REDIS_URL: stack.config.redisUrl, REDIS_CLUSTER: false });
  let catalog: CatalogCache | undefined;
  let payments: Queue | undefined;
  try {
    await stack.setUpStores();
    await stack.startApps(); // the api sets prices through the admin contract
    for (const model of BENCH_MODELS)
      await stack.setPrice(model.id, model.prompt, model.completion, model.cached);
    const accounts = await stack.seedAccounts(envInt('BENCH_ACCOUNTS', 5000), 1_000_000_000_000n);

    const keys = new RedisKeys(stack.prefix);
    catalog = new CatalogCache(database, redis, keys);
    await catalog.onModuleInit();
    const metrics = new BillingMetrics('bench-meter');
    const balances = new BalanceStore(redis, keys, new BalanceRepository(database), metrics);
    const meter = new MeterUsageBatchService(
      catalog,
      balances,
      new DeferredSettles(balances),
      new UsageBatchRepository(database),
      metrics,
      keys,
      undefined,
      // No account has auto-reload: the payments queue (the run's own) is never asked for a job.
      (payments = new Queue(QueueName.Payments, { connection: redis, prefix: stack.bullPrefix })),
      null,
    );

    // Payloads as ingest enqueues them, made before the clock starts.
    const traffic = new UsageTraffic(accounts, BENCH_MODELS, { zipfS: 1, duplicateRate: 0.05, seed: 42 });
    const warmup = 20;
    const payloads: MeterUsageBatchPayload[] = Array.from({ length: warmup + batches }, () => ({
      batchId: newUsageBatchId(),
      receivedAt: Date.now(),
      columns: usageBatchColumns(
        (JSON.parse(traffic.batchBody(batchSize)) as { events: RawEvent[] }).events.map((event) => ({
          ...event,
          cached_tokens: event.cached_tokens ?? 0,
          reasoning_tokens: event.reasoning_tokens ?? 0,
          occurred_at: event.occurred_at === undefined ? Date.now() : Date.parse(event.occurred_at),
        })),
      ),
    }));
    // One batch charged under its own id, as the worker charges a batch that forms no group.
    const meterOne = async (payload: MeterUsageBatchPayload) =>
      meter.charge({ batchId: payload.batchId, events: await meter.rate(payload) });
    for (const payload of payloads.slice(0, warmup)) await meterOne(payload);

    const backends = async () =>
      (
        await stack.sql<{ pid: number }[]>`
          select pid from pg_stat_activity where datname = ${stack.dbName}`
      ).map((row) => row.pid);
    const postgresCpu = async () =>
      (await backends()).reduce((sum, pid) => {
        try {
          return sum + processCpuMs(pid);
        } catch {
          return sum; // a backend that exited meanwhile
        }
      }, 0);
    const redisPid = Number(/process_id:(\d+)/.exec(await redis.info('server'))?.[1]);

    const before = { pg: await postgresCpu(), redis: processCpuMs(redisPid), node: process.cpuUsage() };
    const started = Date.now();
    let accountsTouched = 0;
    for (const payload of payloads.slice(warmup)) accountsTouched += (await meterOne(payload)).accounts;
    const wallMs = Date.now() - started;
    const nodeUsage = process.cpuUsage(before.node);
    const spent = {
      worker: (nodeUsage.user + nodeUsage.system) / 1000,
      postgres: (await postgresCpu()) - before.pg,
      redis: processCpuMs(redisPid) - before.redis,
    };
    const events = batches * batchSize;
    console.log(
      `${fmtInt(batches)} batches of ${fmtInt(batchSize)} events, ${round(accountsTouched / batches)} accounts each, one at a time`,
    );
    console.log(`wall      ${round(wallMs / batches, 2)} ms per batch`);
    for (const [name, ms] of Object.entries(spent)) {
      console.log(
        `${name.padEnd(9)} ${round(ms / batches, 2)} ms CPU per batch, ${round((ms * 1000) / events, 1)} µs per event`,
      );
    }
  } finally {
    await payments?.close();
    await catalog?.onModuleDestroy();
    redis.disconnect();
    await database.close();
    await stack.tearDown();
  }
}

runBenchMain(main);
