import { Queue } from 'bullmq';
import Redis from 'ioredis';
import { join } from 'node:path';
import { EventShape, UsageTraffic } from './events';
import { createScratchTable } from './rows';
import { BenchStack, spawnNode } from './stack';
import { cpuBreakdown, CpuTracker, ROOT, round, sleep } from './util';

export interface NaiveJob extends EventShape {
  accountId: string;
  receivedAt: number;
}

export interface NaiveResult {
  eventsPerSecond: number;
  events: number;
  seconds: number;
  workers: number;
  workerConcurrency: number;
  producerConcurrency: number;
  cpu: ReturnType<typeof cpuBreakdown>;
}

/**
 * The baseline the product must beat by 10x (T1): a producer adds one BullMQ job per event
 * (Queue.add each), N consumer processes (bench/naive-worker.ts) each do one DECRBY and one
 * single-row INSERT per job. The producer skips HTTP and validation, which only flatters it.
 */
export async function runNaive(
  stack: BenchStack,
  traffic: UsageTraffic,
  options: {
    seconds: number;
    warmupSeconds: number;
    workers: number;
    concurrency: number;
    producers: number;
  },
): Promise<NaiveResult> {
  const table = 'bench_naive';
  await createScratchTable(stack.sql, table);
  const bullPrefix = `${stack.prefix}:naive-bull`;
  const queueName = 'naive-usage';
  const env = {
    DATABASE_URL: stack.databaseUrl,
    REDIS_URL: stack.config.redisUrl,
    NAIVE_CONCURRENCY: String(options.concurrency),
    NAIVE_TABLE: table,
    NAIVE_KEY_PREFIX: `${stack.prefix}:naive`,
    NAIVE_QUEUE: queueName,
    NAIVE_BULL_PREFIX: bullPrefix,
  };
  const workers = Array.from({ length: options.workers }, () =>
    spawnNode(join(ROOT, 'dist', 'bench', 'naive-worker.js'), env),
  );
  const connection = new Redis(stack.config.redisUrl, {
    maxRetriesPerRequest: null,
    enableReadyCheck: false,
  });
  const queue = new Queue<NaiveJob>(queueName, { connection, prefix: bullPrefix });
  const names = new Map<number, string>(workers.map((w) => [w.pid ?? 0, 'naive-worker']));
  try {
    await Promise.all(
      workers.map(
        (child) =>
          new Promise<void>((resolve, reject) => {
            let out = '';
            child.stdout?.on('data', (chunk: Buffer) => {
              out += chunk.toString();
              if (out.includes('ready')) resolve();
            });
            child.stderr?.on('data', (chunk: Buffer) => (out += chunk.toString()));
            child.once('exit', (code) => reject(new Error(`naive worker exited with ${code}: ${out}`)));
          }),
      ),
    );

    const waitKey = `${bullPrefix}:${queueName}:wait`;
    let backlog = 0;
    let running = true;
    const poll = (async () => {
      while (running) {
        backlog = await stack.redis.llen(waitKey);
        await sleep(20);
      }
    })();
    const cap = 5_000;
    const started = Date.now();
    const end = started + options.seconds * 1000;
    const producers = Array.from({ length: options.producers }, async () => {
      while (Date.now() < end) {
        if (backlog >= cap) {
          await sleep(5);
          continue;
        }
        const shape = traffic.nextShape();
        await queue.add(
          'usage-event',
          { ...shape, accountId: traffic.accounts[shape.accountIndex], receivedAt: Date.now() },
          { removeOnComplete: true, removeOnFail: 100, attempts: 3 },
        );
      }
    });
    await sleep(options.warmupSeconds * 1000);
    const count = async () =>
      Number((await stack.sql.unsafe<{ n: bigint }[]>(`select count(*)::bigint as n from ${table}`))[0].n);
    const rowsBefore = await count();
    const tracker = new CpuTracker().start();
    const t0 = Date.now();
    await Promise.all(producers);
    const rowsAfter = await count();
    const t1 = Date.now();
    const cpu = cpuBreakdown(...tracker.stop(), await stack.cpuLabeler(names));
    running = false;
    await poll;
    const seconds = (t1 - t0) / 1000;
    return {
      eventsPerSecond: round((rowsAfter - rowsBefore) / seconds),
      events: rowsAfter - rowsBefore,
      seconds: round(seconds, 2),
      workers: options.workers,
      workerConcurrency: options.concurrency,
      producerConcurrency: options.producers,
      cpu,
    };
  } finally {
    for (const child of workers) child.kill('SIGKILL');
    await queue.close().catch(() => undefined);
    connection.disconnect();
    await stack.deleteKeys(`${stack.prefix}:naive*`).catch(() => undefined);
    await stack.sql.unsafe(`drop table if exists ${table}`).catch(() => undefined);
  }
}
