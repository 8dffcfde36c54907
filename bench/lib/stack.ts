import { BENCH_KEYS_PER_ACCOUNT, benchKeyId, benchProjectId } from './attribution';
import { INGEST_NODE_ARGS, USAGE_WORKER_ENV, USAGE_WORKER_NODE_ARGS } from '@app/config';
import * as db from '@app/db';
import { QueueName } from '@app/queue';
import { RedisKeys } from '@app/redis';
import { Queue } from 'bullmq';
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import postgres from 'postgres';
import { promValue, ROOT, sleep } from './util';

export const BENCH_ADMIN_TOKEN = 'bench-admin-token-0123456789';
export const BENCH_GATEWAY_TOKEN = 'bench-gateway-token-0123456789';

export type BenchSql = postgres.Sql<{ bigint: bigint }>;
export type AppName = 'ingest' | 'api' | 'usage-worker';
export type RedisKeyKind = 'markers' | 'balances' | 'pending' | 'queue' | 'other';

const PORT_VARIABLE: Record<AppName, string> = {
  ingest: 'INGEST_PORT',
  api: 'API_PORT',
  'usage-worker': 'WORKER_METRICS_PORT',
};

/** Every child process the bench started, so an exit path of any kind can stop them. */
const children = new Set<ChildProcess>();

function killAllChildrenNow(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}
process.on('exit', killAllChildrenNow);

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** Spawns `node <script>` and records it for cleanup. */
export function spawnNode(
  script: string,
  env: Record<string, string>,
  nodeArgs: string[] = [],
): ChildProcess {
  const child = spawn(process.execPath, [...nodeArgs, script], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** One compiled app (<dist>/apps/<name>/src/main.js) as a child process on its own port. */
export class AppProcess {
  child: ChildProcess | null = null;
  output = '';
  port = 0;

  constructor(
    readonly app: AppName,
    readonly label: string,
    private readonly env: Record<string, string>,
    private readonly nodeArgs: string[] = [],
    /** The build to run: this checkout's dist/, or another's for an A/B comparison. */
    private readonly distDir = join(ROOT, 'dist'),
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number {
    return this.child?.pid ?? 0;
  }

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  async start(): Promise<this> {
    this.port = await freePort();
    const child = spawnNode(
      join(this.distDir, 'apps', this.app, 'src', 'main.js'),
      { ...this.env, [PORT_VARIABLE[this.app]]: String(this.port) },
      this.nodeArgs,
    );
    this.child = child;
    const keep = (chunk: Buffer) => {
      this.output += chunk.toString();
      if (this.output.length > 200_000) this.output = this.output.slice(-100_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (!this.running)
        throw new Error(`${this.label} exited with ${child.exitCode}: ${this.output.slice(-4000)}`);
      try {
        const response = await fetch(`${this.url}/health/ready`);
        if (response.status === 200) return this;
      } catch {
        // not listening yet
      }
      await sleep(100);
    }
    throw new Error(`${this.label} was not ready within 60 s: ${this.output.slice(-4000)}`);
  }

  async stop(timeoutMs = 15_000): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(timer);
  }
}

export interface StackConfig {
  pgAdminUrl: string;
  redisUrl: string;
  workers: number;
  workerConcurrency: number;
  workerEnv: Record<string, string>;
  ingestEnv: Record<string, string>;
  /** Extra node flags for ingest and workers (e.g. --cpu-prof). */
  nodeArgs: string[];
  /**
   * A second ingest process that serves only the authorize and balance reads, as a deployment
   * routes those paths (a load balancer rule) away from the instances parsing 1,000-event batches.
   */
  readsInstance: boolean;
}

/** The Postgres and Redis the benches use: this machine's, unless BENCH_PG_URL / BENCH_REDIS_URL say otherwise. */
export function benchStores(): Pick<StackConfig, 'pgAdminUrl' | 'redisUrl'> {
  return {
    pgAdminUrl: process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    redisUrl: process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379',
  };
}

/**
 * The pipeline under test: a database and a Redis prefix of the run's own, ingest, api, N usage
 * workers and the background worker as real processes (the compiled apps), as npm start runs them.
 */
export class BenchStack {
  readonly dbName = `billing_bench_${randomBytes(5).toString('hex')}`;
  readonly prefix = `bench-${randomBytes(5).toString('hex')}`;
  readonly bullPrefix = new RedisKeys(this.prefix).bullPrefix();
  readonly databaseUrl: string;
  sql!: BenchSql;
  redis!: Redis;
  ingest!: AppProcess;
  reads: AppProcess | undefined;
  api!: AppProcess;
  workers: AppProcess[] = [];
  /** The worker app's other role, as npm start runs it; idle here (no invoice, email or auto-reload). */
  background: AppProcess | undefined;
  private usageQueue: Queue | undefined;
  private migrated = false;

  /** Ingest and api only, on the stores BENCH_PG_URL and BENCH_REDIS_URL name: the benches of one path. */
  static withoutWorkers(options: Partial<Pick<StackConfig, 'ingestEnv' | 'nodeArgs'>> = {}): BenchStack {
    return new BenchStack({
      ...benchStores(),
      workers: 0,
      workerConcurrency: 1,
      workerEnv: {},
      ingestEnv: options.ingestEnv ?? {},
      nodeArgs: options.nodeArgs ?? [],
      readsInstance: false,
    });
  }

  constructor(readonly config: StackConfig) {
    const url = new URL(config.pgAdminUrl);
    url.pathname = `/${this.dbName}`;
    this.databaseUrl = url.toString();
  }

  get apps(): AppProcess[] {
    return [this.ingest, this.reads, this.api, ...this.workers, this.background].filter(
      (app) => app !== undefined,
    );
  }

  /** Where gateways' authorize and balance reads go: the reads instance when there is one. */
  get readsUrl(): string {
    return (this.reads ?? this.ingest).url;
  }

  baseEnv(): Record<string, string> {
    return {
      NODE_ENV: 'production',
      DATABASE_URL: this.databaseUrl,
      REDIS_URL: this.config.redisUrl,
      REDIS_PREFIX: this.prefix,
      ADMIN_TOKEN: BENCH_ADMIN_TOKEN,
      GATEWAY_TOKENS: BENCH_GATEWAY_TOKEN,
      LOG_LEVEL: 'warn',
      RECONCILE_INTERVAL_MS: '0',
      // Production mode wants real payment and storage credentials; the bench charges no card and
      // renders no invoice, so placeholders do (S3 on a closed port, Stripe never called).
      STRIPE_SECRET_KEY: 'sk_test_bench_not_used',
      STRIPE_WEBHOOK_SECRET: 'whsec_bench_not_used',
      S3_ENDPOINT: 'http://127.0.0.1:9',
      S3_ACCESS_KEY_ID: 'bench',
      S3_SECRET_ACCESS_KEY: 'bench-not-used',
      MAIL_OUTBOX_DIR: join(tmpdir(), `bench-outbox-${this.prefix}`),
    };
  }

  async setUpStores(): Promise<void> {
    this.migrated = true;
    await db.migrateDatabase(this.databaseUrl);
    this.sql = postgres(this.databaseUrl, {
      max: 8,
      types: { bigint: postgres.BigInt },
      onnotice: () => undefined,
    });
    this.redis = new Redis(this.config.redisUrl, { maxRetriesPerRequest: 3 });
  }

  async startApps(): Promise<void> {
    const env = this.baseEnv();
    // The flags npm start and docker-compose.yml give ingest and the worker (their heap limits),
    // and the worker's malloc arenas.
    const ingestArgs = [...INGEST_NODE_ARGS, ...this.config.nodeArgs];
    this.ingest = new AppProcess('ingest', 'ingest', { ...env, ...this.config.ingestEnv }, ingestArgs);
    if (this.config.readsInstance) {
      this.reads = new AppProcess('ingest', 'ingest-reads', { ...env, ...this.config.ingestEnv }, ingestArgs);
    }
    this.api = new AppProcess('api', 'api', env);
    for (let i = 0; i < this.config.workers; i++) {
      this.workers.push(
        new AppProcess(
          'usage-worker',
          `usage-worker-${i + 1}`,
          {
            ...env,
            ...USAGE_WORKER_ENV,
            WORKER_ROLE: 'usage',
            USAGE_WORKER_CONCURRENCY: String(this.config.workerConcurrency),
            ...this.config.workerEnv,
          },
          [...USAGE_WORKER_NODE_ARGS, ...this.config.nodeArgs],
        ),
      );
    }
    this.background = new AppProcess(
      'usage-worker',
      'background-worker',
      { ...env, ...USAGE_WORKER_ENV, WORKER_ROLE: 'background' },
      [...USAGE_WORKER_NODE_ARGS],
    );
    await Promise.all(this.apps.map((app) => app.start()));
  }

  async adminRequest(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<unknown> {
    const response = await fetch(`${this.api.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${BENCH_ADMIN_TOKEN}`,
        'content-type': 'application/json',
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (response.status >= 300) throw new Error(`${method} ${path}: ${response.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  }

  /**
   * Accounts straight into Postgres (thousands through the admin API would take most of the run),
   * each with a balance and the grant ledger row that explains it, then the catalog bump that the
   * api's CatalogWriter would publish, so every process's cache loads them.
   */
  async seedAccounts(count: number, balanceMicros: bigint): Promise<string[]> {
    const ids = Array.from({ length: count }, () => randomUUID());
    // Balances may be split over shard rows (account_balances.shard, BALANCE_SHARDS per account,
    // all created with the account); the seed goes to shard 0 as grants do.
    const [{ sharded }] = await this.sql<{ sharded: boolean }[]>`
      select exists (select 1 from information_schema.columns
                     where table_name = 'account_balances' and column_name = 'shard') as sharded`;
    const shards = sharded ? Number((db as Record<string, unknown>).BALANCE_SHARDS ?? 1) : 1;
    // Schemas with workspaces check that events' keys and projects exist: create them.
    const [{ attributed }] = await this.sql<{ attributed: boolean }[]>`
      select to_regclass('api_keys') is not null as attributed`;
    for (let offset = 0; offset < ids.length; offset += 5000) {
      const chunk = ids.slice(offset, offset + 5000);
      await this.sql.begin(async (tx) => {
        await tx`insert into accounts (id, name, billing_email, tier)
                 select id, 'bench account ' || id, 'owner@example.test', 'developer' from unnest(${chunk}::uuid[]) as t(id)`;
        if (sharded) {
          await tx`insert into account_balances (account_id, shard, balance_micros)
                   select id, shard, case when shard = 0 then ${balanceMicros.toString()}::bigint else 0 end
                   from unnest(${chunk}::uuid[]) as t(id), generate_series(0, ${shards - 1}::int) as shard`;
        } else {
          await tx`insert into account_balances (account_id, balance_micros)
                   select id, ${balanceMicros.toString()}::bigint from unnest(${chunk}::uuid[]) as t(id)`;
        }
        await tx`insert into ledger_entries (account_id, kind, amount_micros, idempotency_key, balance_after_micros, source)
                 select id, 'grant', ${balanceMicros.toString()}::bigint, 'grant:' || id || ':bench-seed',
                        ${balanceMicros.toString()}::bigint, '{"reason":"bench seed"}'::jsonb
                 from unnest(${chunk}::uuid[]) as t(id)`;
        if (attributed) {
          await tx`insert into projects (id, account_id, name)
                   select t.id, t.account_id, 'bench project ' || t.id
                   from unnest(${chunk.map(benchProjectId)}::uuid[], ${chunk}::uuid[]) as t(id, account_id)`;
          const keys = chunk.flatMap((id) =>
            Array.from({ length: BENCH_KEYS_PER_ACCOUNT }, (_, n) => [benchKeyId(id, n), id] as const),
          );
          await tx`insert into api_keys (id, account_id, name, role, prefix, secret_hash)
                   select t.id, t.account_id, 'bench key', 'member', replace(t.id::text, '-', ''), sha256(t.id::text::bytea)
                   from unnest(${keys.map((k) => k[0])}::uuid[], ${keys.map((k) => k[1])}::uuid[]) as t(id, account_id)`;
        }
      });
    }
    const version = await this.redis.incr(`${this.prefix}:catalog:version`);
    await this.redis.publish(`${this.prefix}:catalog:changed`, String(version));
    return ids;
  }

  async setPrice(model: string, prompt: string, completion: string, cached?: string): Promise<void> {
    await this.adminRequest('PUT', `/v1/admin/models/${encodeURIComponent(model)}`, {
      prompt_price_per_mtok: prompt,
      completion_price_per_mtok: completion,
      ...(cached === undefined ? {} : { cached_price_per_mtok: cached }),
      effective_from: new Date(Date.now() - 34 * 24 * 3600_000).toISOString(),
    });
  }

  usageQueueKey(suffix: string): string {
    return `${this.bullPrefix}:usage-events:${suffix}`;
  }

  /** Jobs waiting, active, delayed or prioritized in the usage queue. */
  async usageJobsOutstanding(): Promise<number> {
    // One BullMQ script counts all states: read one by one, a job between two states is in neither.
    this.usageQueue ??= new Queue(QueueName.Usage, { connection: this.redis, prefix: this.bullPrefix });
    return this.usageQueue.getJobCountByTypes('wait', 'active', 'delayed', 'prioritized');
  }

  async usageEventRows(): Promise<number> {
    const [{ n }] = await this.sql<{ n: bigint }[]>`select count(*)::bigint as n from usage_events`;
    return Number(n);
  }

  async redisUsedMemory(): Promise<number> {
    const info = await this.redis.info('memory');
    return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? NaN);
  }

  /** Unlinks every key matching the pattern; returns how many. */
  async deleteKeys(pattern: string): Promise<number> {
    let cursor = '0';
    let deleted = 0;
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', pattern, 'COUNT', 5000);
      if (keys.length > 0) deleted += await this.redis.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
    return deleted;
  }

  /**
   * Names each process for the CPU breakdown: ours by role, Postgres backends by database (this
   * run's or others'), Redis, and everything else on the machine as "other processes".
   */
  async cpuLabeler(extra: Map<number, string> = new Map()): Promise<(pid: number, comm: string) => string> {
    const backends = await this.sql<
      { pid: number; datname: string | null }[]
    >`select pid, datname from pg_stat_activity`;
    const byPid = new Map(backends.map((row) => [row.pid, row.datname]));
    const apps = new Map(this.apps.map((app) => [app.pid, app.label]));
    return (pid, comm) => {
      if (pid === process.pid) return 'bench (load generator)';
      const known = apps.get(pid) ?? extra.get(pid);
      if (known) return known;
      if (comm.startsWith('postgres')) {
        const db = byPid.get(pid);
        if (db === this.dbName) return 'postgres (bench db)';
        if (db) return 'postgres (other dbs)';
        return 'postgres (background)';
      }
      if (comm.startsWith('redis-server')) return 'redis';
      return 'other processes';
    };
  }

  /**
   * What this run's keys hold in Redis, by kind: accepted-id markers (estimated from a sample,
   * there can be millions), cached balances, pending changes, queue keys, the rest. The shared
   * Redis's used_memory also moves with other tenants, so T5 is judged on these.
   */
  async redisFootprint(): Promise<Record<RedisKeyKind, { keys: number; bytes: number }>> {
    const result: Record<RedisKeyKind, { keys: number; bytes: number }> = {
      markers: { keys: 0, bytes: 0 },
      balances: { keys: 0, bytes: 0 },
      pending: { keys: 0, bytes: 0 },
      queue: { keys: 0, bytes: 0 },
      other: { keys: 0, bytes: 0 },
    };
    const markerSample: string[] = [];
    const measured: [RedisKeyKind, string][] = [];
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', `${this.prefix}:*`, 'COUNT', 5000);
      cursor = next;
      for (const key of keys) {
        const kind: RedisKeyKind = key.includes(':ev:')
          ? 'markers'
          : key.endsWith(':b')
            ? 'balances'
            : key.endsWith(':pend')
              ? 'pending'
              : key.startsWith(`${this.bullPrefix}:`) || key.includes(':ugroup:')
                ? 'queue' // BullMQ's keys and the records of usage groups not yet settled
                : 'other';
        result[kind].keys++;
        if (kind === 'markers') {
          if (markerSample.length < 1000) markerSample.push(key);
        } else measured.push([kind, key]);
      }
    } while (cursor !== '0');
    const usage = async (keys: string[]): Promise<number[]> => {
      const sizes: number[] = [];
      for (let i = 0; i < keys.length; i += 1000) {
        const pipeline = this.redis.pipeline();
        for (const key of keys.slice(i, i + 1000)) pipeline.call('MEMORY', 'USAGE', key);
        for (const [, value] of (await pipeline.exec()) ?? []) sizes.push(Number(value ?? 0));
      }
      return sizes;
    };
    const sizes = await usage(measured.map(([, key]) => key));
    measured.forEach(([kind], i) => (result[kind].bytes += sizes[i]));
    if (markerSample.length > 0) {
      const sample = await usage(markerSample);
      result.markers.bytes = Math.round(
        (sample.reduce((a, b) => a + b, 0) / sample.length) * result.markers.keys,
      );
    }
    return result;
  }

  async countKeys(pattern: string): Promise<number> {
    let cursor = '0';
    let count = 0;
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', pattern, 'COUNT', 5000);
      count += keys.length;
      cursor = next;
    } while (cursor !== '0');
    return count;
  }

  async workerMetric(name: string): Promise<number> {
    let total = 0;
    await Promise.all(
      this.workers.map(async (worker) => {
        const text = await (await fetch(`${worker.url}/metrics`)).text();
        total += promValue(text, name);
      }),
    );
    return total;
  }

  /** Stops everything this stack started and removes its database and keys; never throws. */
  async tearDown(keepDatabase = false): Promise<void> {
    await Promise.all(this.apps.map((app) => app.stop().catch(() => undefined)));
    await this.usageQueue?.close().catch(() => undefined);
    if (this.redis) {
      await this.deleteKeys(`${this.prefix}:*`).catch((error) =>
        console.error(`could not delete Redis keys: ${error}`),
      );
      this.redis.disconnect();
    }
    await this.sql?.end({ timeout: 5 }).catch(() => undefined);
    if (!this.migrated || keepDatabase) return;
    const admin = postgres(this.config.pgAdminUrl, { max: 1, onnotice: () => undefined });
    try {
      await admin.unsafe(`drop database if exists "${this.dbName}" with (force)`);
    } catch (error) {
      console.error(`could not drop ${this.dbName}: ${error}`);
    } finally {
      await admin.end({ timeout: 5 });
    }
  }
}
