import { UsageTraffic } from './events';
import { HttpClient, HttpResult } from './http-client';
import { BENCH_GATEWAY_TOKEN, BenchStack } from './stack';
import { runLatencyProbes } from './latency-probes';
import { cpuBreakdown, CpuTracker, percentile, round, rssBytes, sleep, summarize } from './util';

const INGEST_PATH = '/v1/usage/events';

export interface IngestTally {
  requests: number;
  eventsSent: number;
  accepted: number;
  duplicates: number;
  status503: number;
  errors: number;
  errorSamples: string[];
}

function newTally(): IngestTally {
  return {
    requests: 0,
    eventsSent: 0,
    accepted: 0,
    duplicates: 0,
    status503: 0,
    errors: 0,
    errorSamples: [],
  };
}

function record(tally: IngestTally, size: number, result: HttpResult | Error): boolean {
  tally.requests++;
  if (result instanceof Error) {
    tally.errors++;
    if (tally.errorSamples.length < 5) tally.errorSamples.push(result.message);
    return false;
  }
  if (result.status === 202) {
    const body = JSON.parse(result.body) as { accepted: number; duplicates: number };
    tally.eventsSent += size;
    tally.accepted += body.accepted;
    tally.duplicates += body.duplicates;
    return true;
  }
  if (result.status === 503) tally.status503++;
  else {
    tally.errors++;
    if (tally.errorSamples.length < 5)
      tally.errorSamples.push(`${result.status} ${result.body.slice(0, 300)}`);
  }
  return false;
}

async function send(client: HttpClient, body: string): Promise<HttpResult | Error> {
  try {
    return await client.send('POST', INGEST_PATH, body);
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
  }
}

/** Samples every second: persisted counter, RSS of the apps, Redis memory, queue backlog. */
export class Sampler {
  readonly samples: {
    t: number;
    persisted: number;
    failures: number;
    backlog: number;
    redisUsedMemory: number;
    rss: Record<string, number>;
  }[] = [];
  readonly rssMax: Record<string, number> = {};
  redisPeak = 0;
  private running = false;
  private loop: Promise<void> | null = null;

  constructor(private readonly stack: BenchStack) {}

  start(intervalMs = 1000): void {
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        const started = Date.now();
        await this.sample().catch(() => undefined);
        await sleep(Math.max(0, intervalMs - (Date.now() - started)));
      }
    })();
  }

  async sample(): Promise<void> {
    const [persisted, failures, backlog, redisUsedMemory] = await Promise.all([
      this.stack.workerMetric('billing_usage_events_persisted_total'),
      this.stack.workerMetric('billing_usage_batch_failures_total'),
      this.stack.usageJobsOutstanding(),
      this.stack.redisUsedMemory(),
    ]);
    const rss: Record<string, number> = {};
    for (const app of this.stack.apps) {
      rss[app.label] = rssBytes(app.pid);
      this.rssMax[app.label] = Math.max(this.rssMax[app.label] ?? 0, rss[app.label]);
    }
    this.redisPeak = Math.max(this.redisPeak, redisUsedMemory);
    this.samples.push({ t: Date.now(), persisted, failures, backlog, redisUsedMemory, rss });
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  /** Events persisted per second between consecutive samples within [from, to]. */
  ratesBetween(from: number, to: number): number[] {
    const rates: number[] = [];
    const inside = this.samples.filter((s) => s.t >= from && s.t <= to);
    for (let i = 1; i < inside.length; i++) {
      rates.push(((inside[i].persisted - inside[i - 1].persisted) * 1000) / (inside[i].t - inside[i - 1].t));
    }
    return rates;
  }
}

export async function waitForDrain(stack: BenchStack, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await stack.usageJobsOutstanding()) === 0) return Date.now();
    await sleep(20);
  }
  throw new Error(`the usage queue did not drain within ${timeoutMs} ms`);
}

export interface MaxPhaseResult {
  loadSeconds: number;
  warmupSeconds: number;
  drainSeconds: number;
  /** Rows committed to usage_events from the end of warm-up until the queue was drained, per second. */
  sustainedEventsPerSecond: number;
  /** Rate over the loaded window only (from worker metrics), for comparison. */
  steadyRates: { min: number; p50: number; max: number };
  offeredEventsPerSecond: number;
  acceptedEventsPerSecond: number;
  rowsPersisted: number;
  tally: IngestTally;
  httpConcurrency: number;
  backlogCapJobs: number;
  ingestMs: ReturnType<typeof summarize>;
  lagMs: LagStats;
  cpu: ReturnType<typeof cpuBreakdown>;
}

export interface LagStats {
  events: number;
  p50: number;
  p99: number;
  max: number;
}

/**
 * Accepted-to-persisted lag of every event received in [from, to): usage_events.persisted_at
 * (now() of the worker's transaction) minus received_at (when ingest took the request).
 */
export async function lagStats(stack: BenchStack, from: Date, to: Date): Promise<LagStats> {
  const [row] = await stack.sql<{ n: bigint; p50: number | null; p99: number | null; max: number | null }[]>`
    select count(*)::bigint as n,
           percentile_cont(0.5) within group (order by ms) as p50,
           percentile_cont(0.99) within group (order by ms) as p99,
           max(ms) as max
    from (select extract(epoch from (persisted_at - received_at)) * 1000 as ms
          from usage_events where received_at >= ${from} and received_at < ${to}) t`;
  return {
    events: Number(row.n),
    p50: round(row.p50 ?? NaN, 1),
    p99: round(row.p99 ?? NaN, 1),
    max: round(row.max ?? NaN, 1),
  };
}

/**
 * Full load: `concurrency` closed-loop senders of realistic batches. A sender holds back while
 * the usage queue has `backlogCap` or more jobs waiting or being charged, so the offered load follows what the
 * pipeline can persist instead of piling up in Redis: the measured rate is a sustainable one.
 */
export async function runMaxPhase(
  stack: BenchStack,
  traffic: UsageTraffic,
  sampler: Sampler,
  labeler: () => Promise<(pid: number, comm: string) => string>,
  options: { seconds: number; warmupSeconds: number; concurrency: number; backlogCap: number },
): Promise<MaxPhaseResult> {
  const client = new HttpClient(stack.ingest.url, BENCH_GATEWAY_TOKEN, options.concurrency);
  const tally = newTally();
  const latencies: number[] = [];
  let backlog = 0;
  let polling = true;
  const poll = (async () => {
    while (polling) {
      const [[, wait], [, active]] = (await stack.redis
        .pipeline()
        .llen(stack.usageQueueKey('wait'))
        .llen(stack.usageQueueKey('active'))
        .exec()) as [unknown, number][];
      backlog = wait + active;
      await sleep(10);
    }
  })();

  const t0 = Date.now();
  const end = t0 + options.seconds * 1000;
  const tWarm = t0 + options.warmupSeconds * 1000;
  let rowsAtWarm = 0;
  const tracker = new CpuTracker();
  const warm = (async () => {
    await sleep(tWarm - Date.now());
    rowsAtWarm = await stack.usageEventRows();
    tracker.start();
  })();
  const senders = Array.from({ length: options.concurrency }, async () => {
    while (Date.now() < end) {
      if (backlog >= options.backlogCap) {
        await sleep(2);
        continue;
      }
      const size = traffic.batchSize();
      const result = await send(client, traffic.batchBody(size));
      if (!(result instanceof Error) && Date.now() > tWarm) latencies.push(result.ms);
      if (!record(tally, size, result)) await sleep(20);
    }
  });
  await Promise.all(senders);
  await warm;
  const t1 = Date.now();
  const cpu = cpuBreakdown(...tracker.stop(), await labeler());
  polling = false;
  await poll;
  const t2 = await waitForDrain(stack, 120_000);
  const rowsAtEnd = await stack.usageEventRows();
  client.close();
  const rates = sampler.ratesBetween(tWarm, t1);
  const loaded = (t1 - t0) / 1000;
  return {
    loadSeconds: round(loaded, 1),
    warmupSeconds: options.warmupSeconds,
    drainSeconds: round((t2 - t1) / 1000, 2),
    sustainedEventsPerSecond: round((rowsAtEnd - rowsAtWarm) / ((t2 - tWarm) / 1000)),
    steadyRates: {
      min: round(Math.min(...rates)),
      p50: round(percentile(rates, 50)),
      max: round(Math.max(...rates)),
    },
    offeredEventsPerSecond: round(tally.eventsSent / loaded),
    acceptedEventsPerSecond: round(tally.accepted / loaded),
    rowsPersisted: rowsAtEnd,
    tally,
    httpConcurrency: options.concurrency,
    backlogCapJobs: options.backlogCap,
    ingestMs: summarize(latencies),
    lagMs: await lagStats(stack, new Date(tWarm), new Date(t1)),
    cpu,
  };
}

export interface HalfPhaseResult {
  targetEventsPerSecond: number;
  achievedEventsPerSecond: number;
  seconds: number;
  tally: IngestTally;
  probeRequestsPerSecond: number;
  /** Client-side latency of the 100-event batches (T2). */
  ingest100Ms: ReturnType<typeof summarize>;
  /** Client-side latency of every ingest request of the phase (100 to 1,000 events). */
  ingestAllMs: ReturnType<typeof summarize>;
  lagMs: LagStats;
  authorizeMs: ReturnType<typeof summarize>;
  balanceMs: ReturnType<typeof summarize>;
  readErrors: number;
  readErrorSamples: string[];
  maxInFlight: number;
  cpu: ReturnType<typeof cpuBreakdown>;
}

/**
 * Half load, open loop: batches are sent on a schedule whatever the latency (no coordinated
 * omission). A stream of 100-event batches at a fixed rate measures T2; the realistic mix fills
 * the rest of the target rate. Meanwhile two sequential readers call authorize and balance (T4).
 * The 100-event batches and the reads are sent from a thread of their own (latency-probes.ts).
 */
export async function runHalfPhase(
  stack: BenchStack,
  traffic: UsageTraffic,
  labeler: () => Promise<(pid: number, comm: string) => string>,
  options: {
    seconds: number;
    warmupSeconds: number;
    eventsPerSecond: number;
    readPauseMs: number;
    modelIds: string[];
  },
): Promise<HalfPhaseResult> {
  const mixClient = new HttpClient(stack.ingest.url, BENCH_GATEWAY_TOKEN, 64);
  const tally = newTally();
  const allLatencies: number[] = [];
  const inFlight = new Set<Promise<void>>();
  let maxInFlight = 0;

  const probeRate = Math.min(50, Math.max(5, (options.eventsPerSecond * 0.3) / 100));
  const mixRate = Math.max(0, options.eventsPerSecond - probeRate * 100);

  // The whole schedule and every body are built before the clock starts: generating a
  // 1,000-event body takes milliseconds, which would otherwise delay the sending.
  const schedule: { atMs: number; size: number; body: string }[] = [];
  if (mixRate > 0) {
    let events = 0;
    for (;;) {
      const size = traffic.batchSize();
      const atMs = (events * 1000) / mixRate;
      if (atMs >= options.seconds * 1000) break;
      schedule.push({ atMs, size, body: traffic.batchBody(size) });
      events += size;
    }
  }
  const ingestProbes: { atMs: number; body: string }[] = [];
  for (let i = 0; i * (1000 / probeRate) < options.seconds * 1000; i++) {
    ingestProbes.push({ atMs: i * (1000 / probeRate), body: traffic.batchBody(100) });
  }
  const readAccounts = Array.from({ length: 4000 }, () => traffic.accounts[traffic.nextShape().accountIndex]);

  // Starts a little ahead so the probe thread is running when the clock starts.
  const t0 = Date.now() + 500;
  const end = t0 + options.seconds * 1000;
  const tWarm = t0 + options.warmupSeconds * 1000;
  const probes = runLatencyProbes({
    ingestUrl: stack.ingest.url,
    readsUrl: stack.readsUrl,
    token: BENCH_GATEWAY_TOKEN,
    startAt: t0,
    endAt: end,
    warmUntil: tWarm,
    ingestProbes,
    authorizeBodies: readAccounts.map((account, i) =>
      JSON.stringify({ account_id: account, model: options.modelIds[i % options.modelIds.length] }),
    ),
    balancePaths: readAccounts.map((account) => `/v1/accounts/${account}/balance`),
    readPauseMs: options.readPauseMs,
  });
  await sleep(t0 - Date.now());

  const launch = (item: (typeof schedule)[number]) => {
    const sentAt = Date.now();
    const task = send(mixClient, item.body).then((result) => {
      record(tally, item.size, result);
      if (result instanceof Error || result.status !== 202 || sentAt < tWarm) return;
      allLatencies.push(result.ms);
    });
    item.body = '';
    inFlight.add(task);
    maxInFlight = Math.max(maxInFlight, inFlight.size);
    void task.finally(() => inFlight.delete(task));
  };

  const tracker = new CpuTracker();
  let warmed = false;
  let next = 0;
  while (next < schedule.length) {
    const elapsed = Date.now() - t0;
    if (!warmed && elapsed >= options.warmupSeconds * 1000) {
      warmed = true;
      tracker.start();
    }
    while (next < schedule.length && schedule[next].atMs <= elapsed) launch(schedule[next++]);
    await sleep(1);
  }
  while (Date.now() < end) await sleep(1);
  const t1 = Date.now();
  await Promise.all([...inFlight]);
  const probed = await probes;
  if (!warmed) tracker.start();
  const cpu = cpuBreakdown(...tracker.stop(), await labeler());
  await waitForDrain(stack, 60_000);
  mixClient.close();

  const probeLatencies: number[] = [];
  for (const outcome of probed.ingestProbes) {
    record(tally, 100, outcome.error === undefined ? outcome : new Error(outcome.error));
    if (outcome.status !== 202 || !outcome.warm) continue;
    probeLatencies.push(outcome.ms);
    allLatencies.push(outcome.ms);
  }
  return {
    targetEventsPerSecond: round(options.eventsPerSecond),
    achievedEventsPerSecond: round(tally.eventsSent / ((t1 - t0) / 1000)),
    seconds: round((t1 - t0) / 1000, 1),
    tally,
    probeRequestsPerSecond: round(probeRate, 1),
    ingest100Ms: summarize(probeLatencies),
    ingestAllMs: summarize(allLatencies),
    lagMs: await lagStats(stack, new Date(tWarm), new Date(t1)),
    authorizeMs: summarize(probed.authorizeMs),
    balanceMs: summarize(probed.balanceMs),
    readErrors: probed.readErrors,
    readErrorSamples: probed.readErrorSamples,
    maxInFlight,
    cpu,
  };
}

export interface IdleResult {
  ingest100Ms: ReturnType<typeof summarize>;
  authorizeMs: ReturnType<typeof summarize>;
  balanceMs: ReturnType<typeof summarize>;
}

/**
 * The same requests one at a time on an otherwise idle pipeline: the floor of T2 and T4, to tell
 * the cost of a request apart from the queueing behind other work at half load.
 */
export async function runIdleProbe(
  stack: BenchStack,
  traffic: UsageTraffic,
  modelIds: string[],
  count = 1000,
): Promise<IdleResult> {
  const client = new HttpClient(stack.ingest.url, BENCH_GATEWAY_TOKEN, 1);
  const readClient = new HttpClient(stack.readsUrl, BENCH_GATEWAY_TOKEN, 1);
  const ingest: number[] = [];
  const authorize: number[] = [];
  const balance: number[] = [];
  const bodies = Array.from({ length: 120 }, () => traffic.batchBody(100));
  for (const body of bodies) ingest.push((await client.send('POST', INGEST_PATH, body)).ms);
  // The reads are timed on a pipeline with nothing left to persist.
  await waitForDrain(stack, 30_000);
  for (let i = 0; i < count; i++) {
    const account = traffic.accounts[traffic.nextShape().accountIndex];
    const body = JSON.stringify({ account_id: account, model: modelIds[i % modelIds.length] });
    authorize.push((await readClient.send('POST', '/v1/authorize', body)).ms);
    balance.push((await readClient.send('GET', `/v1/accounts/${account}/balance`)).ms);
  }
  client.close();
  readClient.close();
  await waitForDrain(stack, 30_000);
  // The first requests warm the code paths up (V8 optimises a function after some hundreds of calls); keep the rest.
  return {
    ingest100Ms: summarize(ingest.slice(20)),
    authorizeMs: summarize(authorize.slice(300)),
    balanceMs: summarize(balance.slice(300)),
  };
}
