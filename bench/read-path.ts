/**
 * The gateway's read path alone (T4), for before/after numbers of a change to it: authorize and
 * balance requests against a real ingest process (its npm start flags) on the bench's Zipf
 * accounts and models, with no usage flowing. Two phases:
 *   1. one request at a time (latency p50/p90/p99/max of each kind, warmed first);
 *   2. READS_CONCURRENCY requests in flight (reads per second, with the client and Redis on the
 *      same two cores).
 * Then the machine's floor: the same number of requests one at a time to a bare node:http server
 * that answers from one Redis HGET (bench/machine-floor-server.ts), which no app can beat here.
 * Each phase prints ingest's CPU per read (all its threads), which sets how many reads a core
 * serves and how often its garbage collector pauses them. Every account's balance is read once
 * first, so its Redis copy exists (as it does once the account has been charged) and no read
 * goes to Postgres.
 *
 * READS_BASELINE_DIST=<another checkout's dist/> runs that build's ingest beside this one on the
 * same database and Redis, and both phases alternate between the two in READS_ROUNDS slices: the
 * VM's speed drifts by a third from hour to hour, which separate runs cannot tell from a change
 * of 10-20%, while slices taken turn about see the same machine.
 *
 *   npm run bench:reads    (READS_COUNT, READS_CONCURRENCY, READS_SECONDS, READS_ROUNDS,
 *                           READS_BASELINE_DIST, READS_LOG_LEVEL: ingest's LOG_LEVEL, default warn
 *                           as in npm run bench; BENCH_ACCOUNTS, BENCH_PG_URL, BENCH_REDIS_URL,
 *                           BENCH_PROFILE=1: ingest's CPU profile into bench/results/profiles)
 */
import { INGEST_NODE_ARGS } from '@app/config';
import { RedisKeys } from '@app/redis';
import { BENCH_MODELS, UsageTraffic } from './lib/events';
import { HttpClient } from './lib/http-client';
import { runMachineFloorProbe } from './lib/machine-floor';
import { AppProcess, BENCH_GATEWAY_TOKEN, BenchStack } from './lib/stack';
import {
  envInt,
  fmtInt,
  mib,
  processCpuMs,
  profileNodeArgs,
  round,
  rssBytes,
  runBenchMain,
  summarize,
} from './lib/util';

type ReadKind = 'authorize' | 'balance';
type ReadRequest = [method: string, path: string, body?: string];

/** 429 is authorize's answer too: the busiest accounts run out of free-model requests. */
const READ_ANSWERS = new Set([200, 429]);

/** One ingest build under test, with what it was measured to spend. */
class ReadTarget {
  readonly one: HttpClient;
  readonly many: HttpClient;
  readonly times: Record<ReadKind, number[]> = { authorize: [], balance: [] };
  sequential = { reads: 0, cpuMs: 0 };
  concurrent = { reads: 0, cpuMs: 0, seconds: 0 };

  constructor(
    readonly name: string,
    readonly app: AppProcess,
    concurrency: number,
  ) {
    this.one = new HttpClient(app.url, BENCH_GATEWAY_TOKEN, 1);
    this.many = new HttpClient(app.url, BENCH_GATEWAY_TOKEN, concurrency);
  }

  close(): void {
    this.one.close();
    this.many.close();
  }
}

function readRequest(traffic: UsageTraffic, kind: ReadKind, i: number): ReadRequest {
  const account = traffic.accounts[traffic.nextShape().accountIndex];
  if (kind === 'balance') return ['GET', `/v1/accounts/${account}/balance`];
  const model = BENCH_MODELS[i % BENCH_MODELS.length].id;
  return ['POST', '/v1/authorize', JSON.stringify({ account_id: account, model })];
}

async function sendChecked(client: HttpClient, request: ReadRequest): Promise<number> {
  const result = await client.send(...request);
  if (!READ_ANSWERS.has(result.status))
    throw new Error(`${request[0]} ${request[1]}: ${result.status} ${result.body}`);
  return result.ms;
}

/** Slices taken turn about: the first target first in even rounds, last in odd ones. */
function turnAbout<T>(targets: T[], round: number): T[] {
  return round % 2 === 0 ? targets : [...targets].reverse();
}

async function main(): Promise<void> {
  const count = envInt('READS_COUNT', 4000);
  const concurrency = envInt('READS_CONCURRENCY', 8);
  const seconds = envInt('READS_SECONDS', 10);
  const rounds = envInt('READS_ROUNDS', 10);
  const baselineDist = process.env.READS_BASELINE_DIST;
  const nodeArgs = process.env.BENCH_PROFILE === '1' ? profileNodeArgs() : [];
  const stack = BenchStack.withoutWorkers({
    ingestEnv: { LOG_LEVEL: process.env.READS_LOG_LEVEL ?? 'warn' },
    nodeArgs,
  });
  let baseline: AppProcess | undefined;
  const targets: ReadTarget[] = [];
  try {
    await stack.setUpStores();
    await stack.startApps();
    targets.push(new ReadTarget('this build', stack.ingest, concurrency));
    if (baselineDist) {
      const env = { ...stack.baseEnv(), ...stack.config.ingestEnv };
      const args = [...INGEST_NODE_ARGS, ...nodeArgs];
      baseline = await new AppProcess('ingest', 'ingest-baseline', env, args, baselineDist).start();
      targets.push(new ReadTarget(baselineDist, baseline, concurrency));
    }
    for (const model of BENCH_MODELS)
      await stack.setPrice(model.id, model.prompt, model.completion, model.cached);
    const accounts = await stack.seedAccounts(envInt('BENCH_ACCOUNTS', 5000), 1_000_000_000_000n);
    const traffic = new UsageTraffic(accounts, BENCH_MODELS, { zipfS: 1, duplicateRate: 0, seed: 11 });
    console.log(
      `ingest (${INGEST_NODE_ARGS.join(' ')}, LOG_LEVEL ${stack.config.ingestEnv.LOG_LEVEL}), ` +
        `${fmtInt(accounts.length)} accounts, no usage flowing`,
    );

    for (const target of targets) {
      for (const account of accounts)
        await sendChecked(target.one, ['GET', `/v1/accounts/${account}/balance`]);
      // V8 optimises a function after some hundreds of calls: warm both paths up first.
      for (let i = 0; i < 1000; i++) {
        await sendChecked(target.one, readRequest(traffic, 'authorize', i));
        await sendChecked(target.one, readRequest(traffic, 'balance', i));
      }
    }

    const perSlice = Math.ceil(count / rounds);
    for (let r = 0; r < rounds; r++) {
      for (const target of turnAbout(targets, r)) {
        const cpuBefore = processCpuMs(target.app.pid);
        for (let i = 0; i < perSlice; i++) {
          for (const kind of ['authorize', 'balance'] as const)
            target.times[kind].push(await sendChecked(target.one, readRequest(traffic, kind, i)));
        }
        target.sequential.cpuMs += processCpuMs(target.app.pid) - cpuBefore;
        target.sequential.reads += 2 * perSlice;
      }
    }

    const sliceMs = (seconds * 1000) / rounds;
    for (let r = 0; r < rounds; r++) {
      for (const target of turnAbout(targets, r)) {
        const cpuBefore = processCpuMs(target.app.pid);
        const started = Date.now();
        const until = started + sliceMs;
        await Promise.all(
          Array.from({ length: concurrency }, async (_, loop) => {
            for (let i = loop; Date.now() < until; i += concurrency) {
              const kind = i % 2 === 0 ? 'authorize' : 'balance';
              await sendChecked(target.many, readRequest(traffic, kind, i >> 1));
              target.concurrent.reads++;
            }
          }),
        );
        target.concurrent.seconds += (Date.now() - started) / 1000;
        target.concurrent.cpuMs += processCpuMs(target.app.pid) - cpuBefore;
      }
    }

    const floor = await runMachineFloorProbe(
      stack.config.redisUrl,
      new RedisKeys(stack.prefix).balance(accounts[0]),
      count,
    );
    console.log(
      `\nmachine floor, one at a time (node:http answering from one Redis HGET, no app code): ` +
        `p50 ${floor.p50}  p90 ${floor.p90}  p99 ${floor.p99}  max ${floor.max}`,
    );

    for (const target of targets) {
      const { sequential, concurrent } = target;
      console.log(`\n${target.name}`);
      console.log(`  one at a time, ${fmtInt(sequential.reads / 2)} of each (ms):`);
      for (const kind of ['authorize', 'balance'] as const) {
        const s = summarize(target.times[kind]);
        console.log(`    ${kind.padEnd(9)} p50 ${s.p50}  p90 ${s.p90}  p99 ${s.p99}  max ${s.max}`);
      }
      console.log(`    ingest CPU ${round((sequential.cpuMs * 1000) / sequential.reads)} µs per read`);
      console.log(
        `  ${concurrency} in flight, authorize and balance alternating: ` +
          `${fmtInt(concurrent.reads / concurrent.seconds)} reads/s, ` +
          `ingest CPU ${round((concurrent.cpuMs * 1000) / concurrent.reads)} µs per read, ` +
          `RSS ${mib(rssBytes(target.app.pid))} MiB`,
      );
    }
  } finally {
    for (const target of targets) target.close();
    await baseline?.stop();
    await stack.tearDown();
  }
}

runBenchMain(main);
