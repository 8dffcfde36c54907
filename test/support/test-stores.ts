import { BALANCE_SHARDS, DatabaseHandle, migrateDatabase } from '@app/db';
import { QueueName } from '@app/queue';
import { openRedis, RedisClient, RedisKeys } from '@app/redis';
import { Queue } from 'bullmq';
import { randomBytes } from 'node:crypto';
import { Cluster } from 'ioredis';
import postgres from 'postgres';

export const PG_ADMIN_URL = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export type TestSql = postgres.Sql<{ bigint: bigint }>;

/** A database client as code that uses only the raw client (`sql`) takes it; `db` (drizzle) throws. */
export function rawDatabaseHandle(sql: TestSql): DatabaseHandle {
  return {
    sql,
    get db(): never {
      throw new Error('this code uses the raw client, not drizzle');
    },
    close: async () => undefined,
    withOwnConnection: (): never => {
      throw new Error('this handle has no URL to open a connection of its own with');
    },
  };
}

/**
 * A database and a Redis key prefix of a suite's own: created migrated, removed afterwards,
 * so suites never see each other's data.
 */
export class TestStores {
  readonly name = `billing_test_${randomBytes(5).toString('hex')}`;
  readonly prefix = `test-${randomBytes(5).toString('hex')}`;
  /** BullMQ's prefix for this suite's queues, as the apps derive it. */
  readonly bullPrefix = new RedisKeys(this.prefix).bullPrefix();
  readonly databaseUrl: string;
  readonly redisUrl: string;
  sql!: TestSql;
  /** A plain client, or a Cluster client for a stack on a Redis Cluster. */
  redis!: RedisClient;
  private usageQueue: Queue | undefined;

  constructor(
    redisUrl = REDIS_URL,
    /** `redisUrl` names a node of a Redis Cluster: the apps and the test connect to the cluster. */
    readonly redisCluster = false,
  ) {
    const url = new URL(PG_ADMIN_URL);
    url.pathname = `/${this.name}`;
    this.databaseUrl = url.toString();
    this.redisUrl = redisUrl;
  }

  /** `migrationsFolder`: a copy of drizzle/ holding only the migrations before one under test. */
  async setUp(migrationsFolder?: string): Promise<this> {
    await migrateDatabase(this.databaseUrl, migrationsFolder);
    this.sql = postgres(this.databaseUrl, {
      max: 4,
      types: { bigint: postgres.BigInt },
      onnotice: () => undefined,
    });
    this.redis = openRedis(
      { REDIS_URL: this.redisUrl, REDIS_CLUSTER: this.redisCluster },
      { enableAutoPipelining: false, maxRetriesPerRequest: 3 },
    );
    return this;
  }

  async tearDown(): Promise<void> {
    await this.usageQueue?.close();
    await this.deleteRedisKeys().catch(() => undefined);
    this.redis?.disconnect();
    await this.sql?.end({ timeout: 5 });
    const admin = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => undefined });
    try {
      await admin.unsafe(`drop database if exists "${this.name}" with (force)`);
    } finally {
      await admin.end({ timeout: 5 });
    }
  }

  async deleteRedisKeys(): Promise<void> {
    // On a Cluster every master holds some of the keys; each key is unlinked on its own (slots differ).
    const nodes = this.redis instanceof Cluster ? this.redis.nodes('master') : [this.redis];
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', `${this.prefix}:*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length === 0) continue;
        if (this.redis instanceof Cluster) await Promise.all(keys.map((key) => this.redis.unlink(key)));
        else await this.redis.unlink(...keys);
      } while (cursor !== '0');
    }
  }

  /** Environment for the apps under test. */
  env(extra: Record<string, string> = {}): Record<string, string> {
    return {
      NODE_ENV: 'test',
      DATABASE_URL: this.databaseUrl,
      REDIS_URL: this.redisUrl,
      REDIS_CLUSTER: String(this.redisCluster),
      REDIS_PREFIX: this.prefix,
      ADMIN_TOKEN: TEST_ADMIN_TOKEN,
      GATEWAY_TOKENS: TEST_GATEWAY_TOKEN,
      LOG_LEVEL: 'warn',
      // Several suites' processes share one Postgres (max_connections 100 by default).
      DATABASE_POOL_SIZE: '4',
      ...extra,
    };
  }

  /** Postgres balance per account in micros. */
  async postgresBalances(): Promise<Map<string, bigint>> {
    const rows = await this.sql<{ account_id: string; balance_micros: bigint }[]>`
      select account_id, sum(balance_micros)::bigint as balance_micros from account_balances group by account_id`;
    return new Map(rows.map((row) => [row.account_id, row.balance_micros]));
  }

  /** Sum of ledger entries per account: what balances must equal (F4). */
  async ledgerSums(): Promise<Map<string, bigint>> {
    const rows = await this.sql<{ account_id: string; total: bigint }[]>`
      select account_id, sum(amount_micros)::bigint as total from ledger_entries group by account_id`;
    return new Map(rows.map((row) => [row.account_id, row.total]));
  }

  /** Usage spend per account as its hourly rollup (usage_spend_hourly) counts it. */
  async rollupSpend(): Promise<Map<string, bigint>> {
    const rows = await this.sql<{ account_id: string; total: bigint }[]>`
      select account_id, sum(spend_micros)::bigint as total from usage_spend_hourly group by account_id`;
    return new Map(rows.map((row) => [row.account_id, row.total]));
  }

  async redisBalance(accountId: string): Promise<bigint | null> {
    const value = await this.redis.hget(`${this.prefix}:acct:{${accountId}}:b`, 'bal');
    return value === null ? null : BigInt(value);
  }

  async pendingCount(accountId: string): Promise<number> {
    return this.redis.hlen(`${this.prefix}:acct:{${accountId}}:pend`);
  }

  /** Jobs waiting, active, delayed or prioritized in the usage queue. */
  async usageJobsOutstanding(): Promise<number> {
    // BullMQ counts all states in one script: read one by one, a stalled job moving from active
    // back to wait between two reads would be in neither, and the queue would look drained.
    this.usageQueue ??= new Queue(QueueName.Usage, { connection: this.redis, prefix: this.bullPrefix });
    return this.usageQueue.getJobCountByTypes('wait', 'active', 'delayed', 'prioritized');
  }
}

/** An account straight into Postgres, `micros` in its first balance shard and 0 in the others. */
export async function accountWithBalance(sql: TestSql, name: string, micros: bigint): Promise<string> {
  const [{ id }] = await sql<{ id: string }[]>`
    insert into accounts (name, billing_email) values (${name}, 'billing@example.com') returning id`;
  await sql`
    insert into account_balances (account_id, shard, balance_micros)
    select ${id}, s, case when s = 0 then ${micros.toString()}::bigint else 0 end
    from generate_series(0, ${BALANCE_SHARDS - 1}) as s`;
  return id;
}

export const TEST_ADMIN_TOKEN = 'test-admin-token-0123456789';
export const TEST_GATEWAY_TOKEN = 'test-gateway-token-0123456789';

/** A stored usage event: the fields the tests choose; tokens, model and price version are fixed. */
export interface StoredEvent {
  accountId: string;
  eventId: string;
  costMicros: number;
  occurredAt: Date | string;
  receivedAt: Date | string;
  apiKeyId?: string | null;
  projectId?: string | null;
}

/**
 * Events written straight into usage_events in one statement, as a batch's commit writes them
 * (its triggers run as they do then); an event id the account already stored is skipped.
 */
export async function insertStoredEvents(sql: TestSql, events: readonly StoredEvent[]): Promise<void> {
  const iso = (at: Date | string) => (typeof at === 'string' ? at : at.toISOString());
  await sql`
    insert into usage_events (account_id, event_id, api_key_id, project_id, model_id, prompt_tokens,
      completion_tokens, cached_tokens, reasoning_tokens, cost_micros, price_version_id, batch_id,
      occurred_at, received_at)
    select account_id, event_id, api_key_id, project_id, 'model', 1, 1, 0, 0, cost_micros, 1, 'batch',
           occurred_at, received_at
    from unnest(${events.map((e) => e.accountId)}::uuid[], ${events.map((e) => e.eventId)}::text[],
                ${events.map((e) => e.apiKeyId ?? null)}::text[], ${events.map((e) => e.projectId ?? null)}::text[],
                ${events.map((e) => e.costMicros)}::bigint[], ${events.map((e) => iso(e.occurredAt))}::timestamptz[],
                ${events.map((e) => iso(e.receivedAt))}::timestamptz[])
         as t(account_id, event_id, api_key_id, project_id, cost_micros, occurred_at, received_at)
    on conflict (account_id, event_id) do nothing`;
}
