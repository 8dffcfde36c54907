/**
 * `npm run bench`: the project's own benchmark (targets T1-T5 of the product brief).
 *
 * It starts the compiled apps (ingest, api, N usage workers) as child processes on a database
 * and Redis prefix of its own, seeds thousands of accounts, and in one run measures:
 *   1. the raw Postgres insert rate of the same rows (unnest, batches of 100-1,000), and the
 *      brief's bare loop on them (dedupe and Lua deduct in Redis, unnest insert; lib/bare.ts),
 *   2. a naive pipeline (one BullMQ job and one INSERT per event),
 *   3. the real pipeline over HTTP at full load (sustained events/s, worker RSS, Redis memory),
 *   4. the real pipeline at half that rate (ingest p50/p99 for 100-event batches, accepted-to-
 *      persisted lag p50/p99, authorize and balance p99),
 * then prints a report, writes bench/results/latest.json and removes everything it created.
 *
 * Settings (environment): BENCH_SECONDS, BENCH_HALF_SECONDS, BENCH_NAIVE_SECONDS, BENCH_RAW_SECONDS, BENCH_BARE_SECONDS,
 * BENCH_ACCOUNTS, BENCH_ZIPF_S, BENCH_DUP_RATE, BENCH_WORKERS, BENCH_WORKER_CONCURRENCY, BENCH_WORKER_NICE
 * (the workers' USAGE_WORKER_NICE; unset: the app's default), BENCH_BATCHES_PER_GROUP (the workers'
 * USAGE_BATCHES_PER_GROUP, default the app's), BENCH_GROUP_LINGER_MS (their USAGE_GROUP_LINGER_MS, default the app's),
 * BENCH_HTTP_CONCURRENCY, BENCH_BACKLOG_JOBS, BENCH_RAW_CONNECTIONS, BENCH_NAIVE_CONCURRENCY,
 * BENCH_HALF_RATE, BENCH_READS_INSTANCE=1 (authorize/balance served by a second ingest process instead
 * of the one parsing the batches), BENCH_SKIP (comma list of raw,bare,naive,half), BENCH_PROFILE=1 (CPU profiles of
 * ingest and workers into bench/results/profiles), BENCH_KEEP_DB=1, BENCH_PG_URL, BENCH_REDIS_URL.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, release, totalmem, type } from 'node:os';
import { join } from 'node:path';
import {
  DEFAULT_USAGE_BATCHES_PER_GROUP,
  DEFAULT_USAGE_GROUP_LINGER_MS,
  INGEST_NODE_ARGS,
  USAGE_WORKER_NODE_ARGS,
} from '@app/config';
import { RedisKeys } from '@app/redis';
import { BENCH_MODELS, UsageTraffic } from './lib/events';
import { runBareLoop } from './lib/bare';
import { runMachineFloorProbe } from './lib/machine-floor';
import { runNaive } from './lib/naive';
import { runHalfPhase, runIdleProbe, runMaxPhase, Sampler } from './lib/pipeline-load';
import { runRawInsert } from './lib/raw';
import { loadPrices } from './lib/rows';
import { BENCH_GATEWAY_TOKEN, BenchStack, benchStores } from './lib/stack';
import {
  cpuBreakdown,
  cpuSnapshot,
  envInt,
  envNumber,
  fmtInt,
  mib,
  profileNodeArgs,
  ROOT,
  runBenchMain,
  round,
  sleep,
  threadNiceLabel,
} from './lib/util';

const RESULTS_DIR = join(ROOT, 'bench', 'results');

function readSettings() {
  // One worker, as `npm start` runs: with groups of 16 it charges as much as two (README Performance).
  const workers = envInt('BENCH_WORKERS', 1);
  const workerConcurrency = envInt('BENCH_WORKER_CONCURRENCY', 2);
  const batchesPerGroup = envInt('BENCH_BATCHES_PER_GROUP', DEFAULT_USAGE_BATCHES_PER_GROUP);
  return {
    ...benchStores(),
    maxSeconds: envInt('BENCH_SECONDS', 40),
    warmupSeconds: envInt('BENCH_WARMUP_SECONDS', 5),
    halfSeconds: envInt('BENCH_HALF_SECONDS', 20),
    naiveSeconds: envInt('BENCH_NAIVE_SECONDS', 12),
    rawSeconds: envInt('BENCH_RAW_SECONDS', 8),
    bareSeconds: envInt('BENCH_BARE_SECONDS', 8),
    accounts: envInt('BENCH_ACCOUNTS', 5000),
    zipfS: envNumber('BENCH_ZIPF_S', 1.0),
    duplicateRate: envNumber('BENCH_DUP_RATE', 0.05),
    workers,
    workerConcurrency,
    httpConcurrency: envInt('BENCH_HTTP_CONCURRENCY', 8),
    // Twice the batches the workers charge at once (each of their groups holds up to batchesPerGroup).
    backlogJobs: envInt('BENCH_BACKLOG_JOBS', Math.max(8, 2 * workers * workerConcurrency * batchesPerGroup)),
    rawConnections: envInt('BENCH_RAW_CONNECTIONS', 2),
    naiveConcurrency: envInt('BENCH_NAIVE_CONCURRENCY', 16),
    halfRate: envNumber('BENCH_HALF_RATE', 0),
    skip: new Set((process.env.BENCH_SKIP ?? '').split(',').filter(Boolean)),
    readsInstance: process.env.BENCH_READS_INSTANCE === '1',
    profile: process.env.BENCH_PROFILE === '1',
    keepDb: process.env.BENCH_KEEP_DB === '1',
    workerNice: process.env.BENCH_WORKER_NICE,
    groupLingerMs: envInt('BENCH_GROUP_LINGER_MS', DEFAULT_USAGE_GROUP_LINGER_MS),
    batchesPerGroup,
  };
}

type Settings = ReturnType<typeof readSettings>;

function log(message: string): void {
  const at = new Date().toISOString().slice(11, 19);
  process.stderr.write(`[bench ${at}] ${message}\n`);
}

async function machineInfo(stack: BenchStack) {
  const [{ version }] = await stack.sql<{ version: string }[]>`select version()`;
  const settings = await stack.sql<{ name: string; setting: string; unit: string | null }[]>`
    select name, setting, unit from pg_settings
    where name in ('shared_buffers', 'synchronous_commit', 'fsync', 'max_wal_size', 'wal_level', 'max_connections')`;
  const redisInfo = await stack.redis.info('server');
  const cpuList = cpus();
  return {
    os: `${type()} ${release()}`,
    cpu: `${cpuList[0]?.model ?? 'unknown'} x ${cpuList.length}`,
    cores: cpuList.length,
    memoryGiB: round(totalmem() / 1024 ** 3, 1),
    node: process.version,
    postgres: version.split(' on ')[0],
    postgresSettings: Object.fromEntries(
      settings.map((s) => [s.name, s.unit ? `${s.setting} ${s.unit}` : s.setting]),
    ),
    redis: /redis_version:(\S+)/.exec(redisInfo)?.[1] ?? 'unknown',
  };
}

function pass(ok: boolean): string {
  return ok ? 'PASS' : 'FAIL';
}

async function main(): Promise<number> {
  // With the output piped to a reader that went away (| head), a write error must not kill the
  // run before it has stopped the apps and dropped its database.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
  const s = readSettings();
  const stack = new BenchStack({
    pgAdminUrl: s.pgAdminUrl,
    redisUrl: s.redisUrl,
    workers: s.workers,
    workerConcurrency: s.workerConcurrency,
    workerEnv: {
      ...(s.workerNice === undefined ? {} : { USAGE_WORKER_NICE: s.workerNice }),
      USAGE_BATCHES_PER_GROUP: String(s.batchesPerGroup),
      USAGE_GROUP_LINGER_MS: String(s.groupLingerMs),
    },
    ingestEnv: {},
    readsInstance: s.readsInstance,
    nodeArgs: s.profile ? profileNodeArgs() : [],
  });

  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) process.exit(130);
    interrupted = true;
    log(`${signal}: stopping and cleaning up`);
    void stack.tearDown(s.keepDb).finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const started = Date.now();
  try {
    // Everything shares two cores: say how busy the machine was before we started.
    const idleBefore = cpuSnapshot();
    await sleep(2000);
    const preflight = cpuBreakdown(idleBefore, cpuSnapshot(), (_pid, comm) => comm);
    const busiest = Object.entries(preflight.cores)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 3);
    log(
      `machine ${preflight.machineBusyPercent}% busy before start (${busiest.map(([k, v]) => `${k} ${v}`).join(', ')})`,
    );
    if (preflight.machineBusyPercent > 10)
      log('WARNING: other work is running on this machine; the results will be low and noisy');
    log(`database ${stack.dbName}, Redis prefix ${stack.prefix}`);
    await stack.setUpStores();
    const machine = await machineInfo(stack);
    log(
      `starting ingest, api, ${s.workers} usage worker(s) (concurrency ${s.workerConcurrency}) and the background worker`,
    );
    await stack.startApps();
    // As the workers set it (USAGE_WORKER_NICE), on all their threads.
    const workerNice = stack.workers.length ? threadNiceLabel(stack.workers[0].pid) : '';
    for (const model of BENCH_MODELS)
      await stack.setPrice(model.id, model.prompt, model.completion, model.cached);
    log(`seeding ${s.accounts} accounts`);
    // $1,000,000 each: far more than the run spends, and a realistic magnitude (see the report
    // on balances of 1e14 micros or more in the Lua scripts).
    const accounts = await stack.seedAccounts(s.accounts, 1_000_000_000_000n);
    const probe = await fetch(`${stack.ingest.url}/v1/authorize`, {
      method: 'POST',
      headers: { authorization: `Bearer ${BENCH_GATEWAY_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ account_id: accounts[accounts.length - 1], model: BENCH_MODELS[0].id }),
    });
    if (probe.status !== 200)
      throw new Error(`ingest does not see the seeded accounts: ${probe.status} ${await probe.text()}`);
    const prices = await loadPrices(stack.sql);
    const traffic = new UsageTraffic(accounts, BENCH_MODELS, {
      zipfS: s.zipfS,
      duplicateRate: s.duplicateRate,
      seed: 42,
    });

    const raw = s.skip.has('raw')
      ? null
      : (log(`raw Postgres insert rate (${s.rawSeconds} s, ${s.rawConnections} connections)`),
        await runRawInsert(
          stack,
          new UsageTraffic(accounts, BENCH_MODELS, { zipfS: s.zipfS, duplicateRate: 0, seed: 7 }),
          prices,
          {
            seconds: s.rawSeconds,
            connections: s.rawConnections,
          },
        ));
    if (raw) log(`raw insert: ${fmtInt(raw.rowsPerSecond)} rows/s`);

    const bare = s.skip.has('bare')
      ? null
      : (log(`bare loop: dedupe, Lua deduct, unnest insert (${s.bareSeconds} s, ${s.rawConnections} loops)`),
        await runBareLoop(
          stack,
          new UsageTraffic(accounts, BENCH_MODELS, { zipfS: s.zipfS, duplicateRate: 0, seed: 8 }),
          prices,
          { seconds: s.bareSeconds, loops: s.rawConnections, duplicateRate: s.duplicateRate },
        ));
    if (bare) log(`bare loop: ${fmtInt(bare.eventsPerSecond)} events/s`);

    const naive = s.skip.has('naive')
      ? null
      : (log(
          `naive pipeline (${s.naiveSeconds} s, ${s.workers} worker process(es) x concurrency ${s.naiveConcurrency})`,
        ),
        await runNaive(
          stack,
          new UsageTraffic(accounts, BENCH_MODELS, { zipfS: s.zipfS, duplicateRate: 0, seed: 9 }),
          {
            seconds: s.naiveSeconds,
            warmupSeconds: 2,
            workers: s.workers,
            concurrency: s.naiveConcurrency,
            producers: 64,
          },
        ));
    if (naive) log(`naive: ${fmtInt(naive.eventsPerSecond)} events/s`);

    const labelOf = () => stack.cpuLabeler();

    log('requests one at a time on the idle pipeline');
    const idle = await runIdleProbe(
      stack,
      traffic,
      BENCH_MODELS.map((m) => m.id),
    );

    // What any read costs on this machine with nothing of the apps in it, beside the idle reads.
    const machineFloor = await runMachineFloorProbe(
      s.redisUrl,
      new RedisKeys(stack.prefix).balance(traffic.accounts[0]),
    );

    await sleep(500);
    const redisBaseline = await stack.redisUsedMemory();
    const footprintBaseline = await stack.redisFootprint();
    const sampler = new Sampler(stack);
    sampler.start(1000);
    log(
      `full load for ${s.maxSeconds} s (${s.httpConcurrency} concurrent requests, backlog cap ${s.backlogJobs} jobs)`,
    );
    const { result: max, batchesPerGroup: batchesPerGroupAtFullLoad } = await countingGroups(stack, () =>
      runMaxPhase(stack, traffic, sampler, labelOf, {
        seconds: s.maxSeconds,
        warmupSeconds: s.warmupSeconds,
        concurrency: s.httpConcurrency,
        backlogCap: s.backlogJobs,
      }),
    );
    const rssAtFullLoad = { ...sampler.rssMax };
    const redisPeakFull = sampler.redisPeak;
    const redisAfterDrain = await stack.redisUsedMemory();
    const footprintAfterFullLoad = await stack.redisFootprint();
    log(`sustained ${fmtInt(max.sustainedEventsPerSecond)} events/s`);

    const halfRate = s.halfRate || max.sustainedEventsPerSecond / 2;
    const halfLoad = s.skip.has('half')
      ? null
      : (log(`half load for ${s.halfSeconds} s at ${fmtInt(halfRate)} events/s`),
        await countingGroups(stack, () =>
          runHalfPhase(stack, traffic, labelOf, {
            seconds: s.halfSeconds,
            warmupSeconds: 3,
            eventsPerSecond: halfRate,
            readPauseMs: 5,
            modelIds: BENCH_MODELS.map((m) => m.id),
          }),
        ));
    const half = halfLoad?.result ?? null;
    await sampler.stop();
    await sleep(500);
    const redisFinal = await stack.redisUsedMemory();
    const footprintFinal = await stack.redisFootprint();

    const failureReasons = new Map<string, number>();
    for (const worker of stack.workers) {
      for (const line of worker.output.split('\n')) {
        if (!line.includes(' failed: ')) continue;
        let message = line;
        try {
          message = String((JSON.parse(line) as { msg?: string }).msg ?? line);
        } catch {
          // not JSON
        }
        const reason = message
          .replace(/.* failed: /, '')
          .replace(/[0-9a-f-]{36}/g, '<id>')
          .replace(/\d[\d.e+]*/g, 'N')
          .slice(0, 160);
        failureReasons.set(reason, (failureReasons.get(reason) ?? 0) + 1);
      }
    }
    const failedAttempts = sampler.samples.length ? sampler.samples[sampler.samples.length - 1].failures : 0;
    const workerRss = Object.entries(rssAtFullLoad)
      .filter(([label]) => label.startsWith('usage-worker'))
      .map(([, bytes]) => bytes);
    const result = {
      when: new Date().toISOString(),
      machine: { ...machine, busyPercentBeforeStart: preflight.machineBusyPercent },
      settings: {
        accounts: s.accounts,
        zipfS: s.zipfS,
        hottestAccountShare: round(traffic.hottestShare(), 3),
        duplicateRate: s.duplicateRate,
        batchSizes: '100-1000 (20% at 1000, else uniform)',
        workers: s.workers,
        workerConcurrency: s.workerConcurrency,
        workerNice,
        batchesPerGroup: s.batchesPerGroup,
        groupLingerMs: s.groupLingerMs,
        httpConcurrency: s.httpConcurrency,
        backlogCapJobs: s.backlogJobs,
      },
      raw,
      bare,
      naive,
      max,
      half,
      idle,
      machineFloor,
      batchesPerGroupAtFullLoad,
      batchesPerGroupAtHalfLoad: halfLoad?.batchesPerGroup ?? null,
      failedBatchAttempts: failedAttempts,
      failureReasons: Object.fromEntries([...failureReasons].sort((a, b) => b[1] - a[1]).slice(0, 5)),
      memory: {
        workerRssMaxMiB: workerRss.map(mib),
        rssMaxMiB: Object.fromEntries(Object.entries(sampler.rssMax).map(([k, v]) => [k, mib(v)])),
        redisBaselineMiB: mib(redisBaseline),
        redisPeakFullLoadMiB: mib(redisPeakFull),
        redisAfterFullLoadDrainMiB: mib(redisAfterDrain),
        redisAfterAllDrainedMiB: mib(redisFinal),
        /** This run's keys only, by kind (bytes from MEMORY USAGE; markers extrapolated from a sample). */
        footprint: {
          baseline: footprintBaseline,
          afterFullLoad: footprintAfterFullLoad,
          final: footprintFinal,
        },
        markerBytesEach: footprintFinal.markers.keys
          ? round(footprintFinal.markers.bytes / footprintFinal.markers.keys)
          : 0,
      },
      timeline: sampler.samples.map((x, i, all) => ({
        t: round((x.t - all[0].t) / 1000, 1),
        persistedPerSecond:
          i === 0 ? 0 : round(((x.persisted - all[i - 1].persisted) * 1000) / (x.t - all[i - 1].t)),
        backlogJobs: x.backlog,
        failedAttempts: x.failures,
        redisMiB: mib(x.redisUsedMemory),
        rssMiB: Object.fromEntries(Object.entries(x.rss).map(([k, v]) => [k, mib(v)])),
      })),
      durationSeconds: 0,
    };
    result.durationSeconds = round((Date.now() - started) / 1000, 1);
    mkdirSync(RESULTS_DIR, { recursive: true });
    writeFileSync(join(RESULTS_DIR, 'latest.json'), JSON.stringify(result, null, 2));
    printReport(result, s);
    return 0;
  } catch (error) {
    log(`FAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    for (const app of stack.apps)
      if (app.output.trim()) log(`${app.label} output (tail):\n${app.output.slice(-2000)}`);
    return 1;
  } finally {
    if (!interrupted) {
      log('stopping apps, dropping database and Redis keys');
      await stack.tearDown(s.keepDb);
    }
  }
}

function cpuLine(cores: Record<string, number>): string {
  return Object.entries(cores)
    .filter(([, v]) => v >= 0.01)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function printReport(r: any, s: Settings): void {
  const lines: string[] = [];
  const add = (text = '') => lines.push(text);
  const m = r.machine;
  const max = r.max;
  const half = r.half;
  const sustained: number = max.sustainedEventsPerSecond;
  add('='.repeat(78));
  add('LLM credit billing pipeline benchmark');
  add('='.repeat(78));
  add(`machine   ${m.cpu}, ${m.memoryGiB} GiB RAM, ${m.os}`);
  add(`software  Node ${m.node}, ${m.postgres}, Redis ${m.redis}`);
  add(
    `before    machine ${m.busyPercentBeforeStart}% busy in the 2 s before the run (other work skews every number below)`,
  );
  add(
    `postgres  ${Object.entries(m.postgresSettings)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ')}`,
  );
  add(
    `load      ${fmtInt(s.accounts)} accounts (Zipf s=${s.zipfS}, busiest ${round(100 * r.settings.hottestAccountShare, 1)}% of events), ` +
      `${round(100 * s.duplicateRate)}% repeated ids, batches 100-1000, ${BENCH_MODELS.length} models`,
  );
  add(
    `pipeline  ingest (${INGEST_NODE_ARGS.join(' ')})${s.readsInstance ? ' + ingest for authorize/balance' : ''} + api + ${s.workers} usage worker(s) x concurrency ${s.workerConcurrency} ` +
      `(${USAGE_WORKER_NODE_ARGS.join(' ')}, nice ${r.settings.workerNice}, groups of up to ${r.settings.batchesPerGroup} batches, linger ${r.settings.groupLingerMs} ms) + background worker; ` +
      `${s.httpConcurrency} concurrent HTTP senders, backlog cap ${s.backlogJobs} jobs`,
  );
  add('');
  add('-- T1 throughput ' + '-'.repeat(61));
  add(
    `sustained end to end          ${fmtInt(sustained).padStart(9)} events/s   (rows committed from warm-up end to queue drained)`,
  );
  add(
    `  per-second while loaded     min ${fmtInt(max.steadyRates.min)} / median ${fmtInt(max.steadyRates.p50)} / max ${fmtInt(max.steadyRates.max)}; drain ${max.drainSeconds} s`,
  );
  add(
    `  offered / accepted          ${fmtInt(max.offeredEventsPerSecond)} / ${fmtInt(max.acceptedEventsPerSecond)} events/s over ${max.loadSeconds} s; ` +
      `${fmtInt(max.tally.duplicates)} duplicates, ${max.tally.status503} x 503, ${max.tally.errors} errors`,
  );
  add(
    `  ingest latency at full load p50 ${max.ingestMs.p50} ms, p99 ${max.ingestMs.p99} ms (batches 100-1000)`,
  );
  add(`  lag at full load            p50 ${max.lagMs.p50} ms, p99 ${max.lagMs.p99} ms`);
  add(
    `  batches per group           ${r.batchesPerGroupAtFullLoad} on average (charged in one Redis pass and one transaction)`,
  );
  if (r.raw) {
    add(
      `raw Postgres insert           ${fmtInt(r.raw.rowsPerSecond).padStart(9)} rows/s     (unnest, ${r.raw.connections} connections, same rows)`,
    );
  }
  if (r.bare) {
    add(
      `bare loop                     ${fmtInt(r.bare.eventsPerSecond).padStart(9)} events/s   (dedupe + Lua deduct + unnest insert, ${r.bare.loops} loops; machine ${r.bare.cpu.machineBusyPercent}% busy)`,
    );
  }
  if (r.naive) {
    add(
      `naive pipeline                ${fmtInt(r.naive.eventsPerSecond).padStart(9)} events/s   (1 job + 1 INSERT + 1 DECRBY per event, ` +
        `${r.naive.workers} x ${r.naive.workerConcurrency})`,
    );
  }
  // Ratios only to the phases that ran (BENCH_SKIP leaves some out).
  if (r.naive) add(`ratio to naive                ${round(sustained / r.naive.eventsPerSecond, 1)}x`);
  if (r.raw) add(`fraction of raw insert rate   ${round((100 * sustained) / r.raw.rowsPerSecond, 1)}%`);
  if (r.bare) add(`fraction of bare loop         ${round((100 * sustained) / r.bare.eventsPerSecond, 1)}%`);
  add(
    `failed batch attempts         ${r.failedBatchAttempts} (retried by BullMQ)${Object.entries(
      r.failureReasons,
    )
      .map(([k, v]) => `\n    ${v} x ${k}`)
      .join('')}`,
  );
  add(`T1 >= 30,000 events/s         ${pass(sustained >= 30_000)}`);
  add(
    `T1 >= 10x naive               ${r.naive ? pass(sustained >= 10 * r.naive.eventsPerSecond) : 'not measured (BENCH_SKIP=naive)'}`,
  );
  add(`cpu at full load (cores)      ${cpuLine(max.cpu.cores)}; machine ${max.cpu.machineBusyPercent}% busy`);
  if (half) {
    add('');
    add(
      `-- at half load: ${fmtInt(half.achievedEventsPerSecond)} events/s achieved (target ${fmtInt(half.targetEventsPerSecond)}) for ${half.seconds} s ` +
        '-'.repeat(4),
    );
    add(
      `T2 ingest, 100-event batch    p50 ${half.ingest100Ms.p50} ms, p99 ${half.ingest100Ms.p99} ms (n=${half.ingest100Ms.n})   ${pass(half.ingest100Ms.p99 <= 10)}`,
    );
    add(
      `   ingest, all batches        p50 ${half.ingestAllMs.p50} ms, p99 ${half.ingestAllMs.p99} ms (n=${half.ingestAllMs.n})`,
    );
    add(
      `T3 accepted-to-persisted      p50 ${half.lagMs.p50} ms, p99 ${half.lagMs.p99} ms (${fmtInt(half.lagMs.events)} events)   ${pass(half.lagMs.p99 <= 1000)}`,
    );
    add(
      `T4 authorize                  p50 ${half.authorizeMs.p50} ms, p99 ${half.authorizeMs.p99} ms (n=${half.authorizeMs.n})   ${pass(half.authorizeMs.p99 <= 2)}`,
    );
    add(
      `T4 balance                    p50 ${half.balanceMs.p50} ms, p99 ${half.balanceMs.p99} ms (n=${half.balanceMs.n})   ${pass(half.balanceMs.p99 <= 2)}`,
    );
    add(
      // The 100-event batches are metered by the workers as they arrive; the reads wait for the drain.
      `   one at a time: ingest 100 p50 ${r.idle.ingest100Ms.p50} / p99 ${r.idle.ingest100Ms.p99} ms (workers metering); idle: ` +
        `authorize p50 ${r.idle.authorizeMs.p50} / p99 ${r.idle.authorizeMs.p99} ms, balance p50 ${r.idle.balanceMs.p50} / p99 ${r.idle.balanceMs.p99} ms`,
    );
    add(
      `   machine floor, idle        p50 ${r.machineFloor.p50} / p99 ${r.machineFloor.p99} ms: node:http answering from one Redis HGET, one at a time (no app code)`,
    );
    add(`   batches per group          ${r.batchesPerGroupAtHalfLoad} on average`);
    add(
      `   503s ${half.tally.status503}, ingest errors ${half.tally.errors}, read errors ${half.readErrors}, max in flight ${half.maxInFlight}`,
    );
    add(
      `   cpu (cores)                ${cpuLine(half.cpu.cores)}; machine ${half.cpu.machineBusyPercent}% busy`,
    );
  }
  add('');
  add('-- T5 memory ' + '-'.repeat(65));
  const mem = r.memory;
  // T5 says 300 MB: 300,000,000 bytes, about 286 MiB (the report's unit).
  const workerRssLimitMiB = 300e6 / 2 ** 20;
  add(
    `worker RSS max at full load   ${mem.workerRssMaxMiB.map((v: number) => `${v} MiB`).join(', ')}   ${pass(mem.workerRssMaxMiB.every((v: number) => v < workerRssLimitMiB))} (under 300 MB = ${workerRssLimitMiB.toFixed(1)} MiB)`,
  );
  add(
    `all processes RSS max         ${Object.entries(mem.rssMaxMiB)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')} (MiB)`,
  );
  add(
    `Redis used_memory (shared)    baseline ${mem.redisBaselineMiB} MiB, peak ${mem.redisPeakFullLoadMiB} MiB, ` +
      `after full load drained ${mem.redisAfterFullLoadDrainMiB} MiB, at the end ${mem.redisAfterAllDrainedMiB} MiB`,
  );
  const fp = mem.footprint;
  const kinds = ['queue', 'pending', 'balances', 'markers', 'other'] as const;
  const cell = (f: Record<string, { keys: number; bytes: number }>, k: string) =>
    `${fmtInt(f[k].keys)} keys ${mib(f[k].bytes)} MiB`;
  add(`this run's keys               baseline -> after full-load drain -> at the end`);
  for (const k of kinds)
    add(`  ${k.padEnd(27)} ${cell(fp.baseline, k)} -> ${cell(fp.afterFullLoad, k)} -> ${cell(fp.final, k)}`);
  const queueBack =
    fp.final.queue.bytes - fp.baseline.queue.bytes < 4 * 1024 * 1024 && fp.final.pending.keys === 0;
  add(
    `  queues and pending back to baseline after drain: ${pass(queueBack)}; accepted-id markers stay for DEDUPE_WINDOW_SECONDS ` +
      `(${mem.markerBytesEach} B each)`,
  );
  add('');
  add(`finished in ${r.durationSeconds} s; JSON in bench/results/latest.json`);
  add('='.repeat(78));
  process.stdout.write(lines.join('\n') + '\n');
}

runBenchMain(main);

/**
 * Runs a phase and the average number of queued batches per group the workers charged during it
 * (from their metrics, read before and after).
 */
async function countingGroups<T>(
  stack: BenchStack,
  phase: () => Promise<T>,
): Promise<{ result: T; batchesPerGroup: number }> {
  const before = await groupCounts(stack);
  const result = await phase();
  const after = await groupCounts(stack);
  const batchesPerGroup = round(
    (after.batches - before.batches) / Math.max(1, after.groups - before.groups),
    2,
  );
  return { result, batchesPerGroup };
}

/** Usage groups the workers charged so far, and the queued batches in them (their metrics). */
async function groupCounts(stack: BenchStack): Promise<{ groups: number; batches: number }> {
  const [groups, batches] = await Promise.all([
    stack.workerMetric('billing_usage_group_batches_count'),
    stack.workerMetric('billing_usage_group_batches_sum'),
  ]);
  return { groups, batches };
}
