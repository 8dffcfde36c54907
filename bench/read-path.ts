/**
 * The gateway's read path alone (T4), for before/after numbers of a change to it: authorize and
 * balance requests against a real ingest process (its npm start flags) on the bench's 5,000 Zipf
 * accounts and models, with no usage flowing. Two phases:
 *   1. one request at a time (latency p50/p99/max of each kind, warmed first);
 *   2. READS_CONCURRENCY requests in flight for READS_SECONDS (reads per second the process
 *      serves with the client and Redis on the same two cores).
 * Each phase prints ingest's CPU per read, which sets how many reads a core can serve and how
 * often its garbage collector pauses them. Every account's balance is read once first, so its
 * Redis copy exists (as it does once the account has been charged) and no read goes to Postgres.
 *
 *   npm run bench:reads    (READS_COUNT, READS_CONCURRENCY, READS_SECONDS, READS_LOG_LEVEL (ingest's
 *                           LOG_LEVEL, default warn as in npm run bench), BENCH_ACCOUNTS, BENCH_PG_URL, BENCH_REDIS_URL, BENCH_PROFILE=1: ingest's CPU profile into bench/results/profiles)
 */
import { INGEST_NODE_ARGS } from '@app/config';
import { BENCH_MODELS, UsageTraffic } from './lib/events';
import { HttpClient } from './lib/http-client';
import { BENCH_GATEWAY_TOKEN, BenchStack } from './lib/stack';
import { envInt, fmtInt, mib, processCpuMs, profileNodeArgs, round, rssBytes, summarize } from './lib/util';

type ReadKind = 'authorize' | 'balance';

function readRequest(traffic: UsageTraffic, kind: ReadKind, i: number): [string, string, string?] {
  const account = traffic.accounts[traffic.nextShape().accountIndex];
  if (kind === 'balance') return ['GET', `/v1/accounts/${account}/balance`];
  const model = BENCH_MODELS[i % BENCH_MODELS.length].id;
  return ['POST', '/v1/authorize', JSON.stringify({ account_id: account, model })];
}

/** 429 is authorize's answer too: the busiest accounts run out of free-model requests. */
const READ_ANSWERS = new Set([200, 429]);

async function sendChecked(client: HttpClient, request: [string, string, string?]): Promise<number> {
  const result = await client.send(...request);
  if (!READ_ANSWERS.has(result.status))
    throw new Error(`${request[0]} ${request[1]}: ${result.status} ${result.body}`);
  return result.ms;
}

async function main(): Promise<void> {
  const count = envInt('READS_COUNT', 4000);
  const concurrency = envInt('READS_CONCURRENCY', 8);
  const seconds = envInt('READS_SECONDS', 10);
  const stack = new BenchStack({
    pgAdminUrl: process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    redisUrl: process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379',
    workers: 0,
    workerConcurrency: 1,
    workerEnv: {},
    ingestEnv: { LOG_LEVEL: process.env.READS_LOG_LEVEL ?? 'warn' },
    nodeArgs: process.env.BENCH_PROFILE === '1' ? profileNodeArgs() : [],
    readsInstance: false,
  });
  try {
    await stack.setUpStores();
    await stack.startApps();
    for (const model of BENCH_MODELS)
      await stack.setPrice(model.id, model.prompt, model.completion, model.cached);
    const accounts = await stack.seedAccounts(envInt('BENCH_ACCOUNTS', 5000), 1_000_000_000_000n);
    const traffic = new UsageTraffic(accounts, BENCH_MODELS, { zipfS: 1, duplicateRate: 0, seed: 11 });
    const pid = stack.ingest.pid;
    console.log(
      `ingest (${INGEST_NODE_ARGS.join(' ')}), ${fmtInt(accounts.length)} accounts, no usage flowing`,
    );

    const one = new HttpClient(stack.ingest.url, BENCH_GATEWAY_TOKEN, 1);
    for (const account of accounts) await sendChecked(one, ['GET', `/v1/accounts/${account}/balance`]);
    // V8 optimises a function after some hundreds of calls: warm both paths up first.
    for (let i = 0; i < 1000; i++) {
      await sendChecked(one, readRequest(traffic, 'authorize', i));
      await sendChecked(one, readRequest(traffic, 'balance', i));
    }
    const times: Record<ReadKind, number[]> = { authorize: [], balance: [] };
    let cpuBefore = processCpuMs(pid);
    for (let i = 0; i < count; i++) {
      for (const kind of ['authorize', 'balance'] as const)
        times[kind].push(await sendChecked(one, readRequest(traffic, kind, i)));
    }
    const sequentialCpuUs = ((processCpuMs(pid) - cpuBefore) * 1000) / (2 * count);
    one.close();
    console.log(`one at a time, ${fmtInt(count)} of each (ms):`);
    for (const kind of ['authorize', 'balance'] as const) {
      const s = summarize(times[kind]);
      console.log(`  ${kind.padEnd(9)} p50 ${s.p50}  p90 ${s.p90}  p99 ${s.p99}  max ${s.max}`);
    }
    console.log(`  ingest CPU ${round(sequentialCpuUs)} µs per read, RSS ${mib(rssBytes(pid))} MiB`);

    const many = new HttpClient(stack.ingest.url, BENCH_GATEWAY_TOKEN, concurrency);
    const until = Date.now() + seconds * 1000;
    let reads = 0;
    cpuBefore = processCpuMs(pid);
    const started = Date.now();
    await Promise.all(
      Array.from({ length: concurrency }, async (_, loop) => {
        for (let i = loop; Date.now() < until; i += concurrency) {
          await sendChecked(many, readRequest(traffic, i % 2 === 0 ? 'authorize' : 'balance', i >> 1));
          reads++;
        }
      }),
    );
    const elapsed = (Date.now() - started) / 1000;
    const concurrentCpuUs = ((processCpuMs(pid) - cpuBefore) * 1000) / reads;
    many.close();
    console.log(`${concurrency} in flight for ${seconds} s, authorize and balance alternating:`);
    console.log(
      `  ${fmtInt(reads / elapsed)} reads/s, ingest CPU ${round(concurrentCpuUs)} µs per read, RSS ${mib(rssBytes(pid))} MiB`,
    );
  } finally {
    await stack.tearDown();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
