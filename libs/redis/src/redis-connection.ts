import { DEFAULT_REDIS_COMMAND_TIMEOUT_MS } from '@app/config';
import { Logger } from '@nestjs/common';
import calculateSlot from 'cluster-key-slot';
import Redis, { ChainableCommander, Cluster, RedisOptions } from 'ioredis';

/** A connection to the product's Redis: one server, or a Redis Cluster. */
export type RedisClient = Redis | Cluster;

/** Where Redis is: `REDIS_URL`, and whether it names a node of a Redis Cluster (`REDIS_CLUSTER`). */
export interface RedisTarget {
  REDIS_URL: string;
  REDIS_CLUSTER: boolean;
  /** Fail-fast connections only (openRedis); DEFAULT_REDIS_COMMAND_TIMEOUT_MS when absent. */
  REDIS_COMMAND_TIMEOUT_MS?: number;
}

/**
 * One place that opens Redis connections. BullMQ workers need maxRetriesPerRequest: null
 * (blocking commands); every other connection fails fast so a request never hangs on Redis.
 * With REDIS_CLUSTER the URL names any node (with its credentials); the client learns the rest.
 *
 * Failing fast takes two bounds. maxRetriesPerRequest covers a Redis that refuses or drops the
 * connection; it never applies while the connection stays open and nothing answers (a stopped or
 * swapping Redis, packets dropped on the way, a slow script), which commandTimeout covers: a
 * command fails with "Command timed out" (503 on a request, isRedisUnavailable) that long after
 * it was sent, or queued while the connection was away. It runs per command from then, so every
 * command of a pipeline counts from the pipeline's exec: the default, 3 s, is far beyond a usage
 * group's ~1,600 script calls (sendEach), which Redis runs in tens of milliseconds even under
 * full load; one that still timed out only fails its job, which is retried (below). With
 * enableAutoPipelining a command waits for the connection's pipeline in flight before its own is
 * sent, so while Redis stalls a request fails within one to two timeouts, 3 to 6 s by default.
 *
 * A command that timed out may still run once Redis answers again (it was sent): the money
 * steps are safe with that. A usage group's reserve or settle that timed out fails its job, which
 * is retried; reserve-change.lua and settle-change.lua are idempotent by change key, so a reserve
 * that ran late is found by the retry ("exists") or settled by whichever attempt commits (a token
 * that is not the committed one is undone), and a settle that ran late leaves the retry's settle
 * nothing to do. A credit grant's reserve is the same: the retry with its key finds it and commits
 * once; one never retried is the reconciler's, as a reserve whose answer a reset lost is.
 */
export function openRedis(target: RedisTarget, options: RedisOptions = {}): RedisClient {
  return connect(target, {
    enableAutoPipelining: true,
    maxRetriesPerRequest: 2,
    commandTimeout: target.REDIS_COMMAND_TIMEOUT_MS ?? DEFAULT_REDIS_COMMAND_TIMEOUT_MS,
    ...options,
  });
}

/** Never a command timeout: a worker's blocking commands wait on Redis for as long as they block. */
export function openBullRedis(target: RedisTarget): RedisClient {
  return connect(target, { maxRetriesPerRequest: null, enableReadyCheck: false });
}

function connect(target: RedisTarget, options: RedisOptions): RedisClient {
  // A Cluster client's own clusterRetryStrategy (100 ms, growing 2 ms an attempt, at most 2 s) is prompt already.
  return reportOutages(
    target.REDIS_CLUSTER
      ? openCluster(target.REDIS_URL, options)
      : new Redis(target.REDIS_URL, { retryStrategy: reconnectDelayMs, ...options }),
  );
}

/**
 * The longest wait between two reconnect attempts of a connection (duplicates keep it). ioredis'
 * default doubles up to 5 s: after an outage of ten seconds a connection came back only at its
 * next attempt, up to 5 s after Redis did, and until then usage was not metered and a shutdown
 * waited for it (closing a BullMQ worker needs Redis). 1 s bounds both. A worker holds a couple of
 * dozen connections at most: during an outage that many refused connects a second, nothing for
 * Redis or the host, and the random 0-200 ms added to every wait spreads their returns over the second.
 */
export const MAX_RECONNECT_DELAY_MS = 1_000;

/** Wait before reconnect attempt `attempt` (from 1): 50 ms doubling to MAX_RECONNECT_DELAY_MS, plus jitter. */
export function reconnectDelayMs(attempt: number): number {
  const jitterMs = Math.floor(Math.random() * 200);
  return Math.min(50 * 2 ** (attempt - 1), MAX_RECONNECT_DELAY_MS) + jitterMs;
}

/** How long a connection's QUIT may take before the connection is dropped instead (see closeRedis). */
export const QUIT_DEADLINE_MS = 1_000;

/**
 * Ends a connection of ours once nothing more will be sent on it. QUIT lets the replies still in
 * flight arrive first. A connection that has no Redis at the moment is dropped at once: its QUIT
 * would wait (for good with maxRetriesPerRequest: null) for Redis to come back, and so would a
 * QUIT whose Redis went away meanwhile, hence the deadline.
 */
export async function closeRedis(client: RedisClient): Promise<void> {
  if (client.status === 'ready') {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, QUIT_DEADLINE_MS)));
    await Promise.race([client.quit().catch(() => undefined), deadline]);
    clearTimeout(timer);
  }
  if (client.status !== 'end') client.disconnect();
}

/**
 * Resolves at once for a connected client, else once a PING answers; rejects as that PING does.
 * Call it before a BullMQ queue's commands on a fail-fast connection (openRedis): a queue waits
 * for its connection to be ready before its first command, for as long as Redis is away, and the
 * connection's maxRetriesPerRequest never applies to that wait. The PING's does: a queue first
 * used during an outage fails within seconds (503 on a request path) instead of hanging.
 */
export async function whenReachable(client: RedisClient): Promise<void> {
  if (client.status !== 'ready') await client.ping();
}

/** A second connection to the same Redis with other options (e.g. for SUBSCRIBE). */
export function duplicateRedis(redis: RedisClient, options: RedisOptions): RedisClient {
  if (!(redis instanceof Cluster)) return reportOutages(redis.duplicate(options));
  const { enableAutoPipelining, ...redisOptions } = options;
  return reportOutages(
    redis.duplicate(undefined, {
      ...redis.options,
      ...(enableAutoPipelining === undefined ? {} : { enableAutoPipelining }),
      redisOptions: { ...redis.options.redisOptions, ...redisOptions },
    }),
  );
}

const logger = new Logger('Redis');

/**
 * ioredis emits 'error' at every failed reconnect and, with no listener, prints each one as an
 * "[ioredis] Unhandled error event" line with its stack: during an outage, several a second and
 * outside the JSON logs. Instead one warning when the connection fails and one line when it is
 * back. Commands still fail on their own (maxRetriesPerRequest), and say so to their callers.
 */
function reportOutages<T extends RedisClient>(client: T): T {
  let failing = false;
  client.on('error', (error: Error) => {
    if (failing) return;
    failing = true;
    logger.warn(`connection failed, reconnecting: ${error.message}`);
  });
  client.on('ready', () => {
    if (!failing) return;
    failing = false;
    logger.log('connection restored');
  });
  return client;
}

function openCluster(url: string, options: RedisOptions): Cluster {
  const { enableAutoPipelining, enableReadyCheck, ...redisOptions } = options;
  const seed = new URL(url);
  return new Cluster([{ host: seed.hostname, port: Number(seed.port || 6379) }], {
    enableAutoPipelining,
    enableReadyCheck,
    redisOptions: {
      ...redisOptions,
      username: decodeURIComponent(seed.username) || undefined,
      password: decodeURIComponent(seed.password) || undefined,
      tls: seed.protocol === 'rediss:' ? {} : undefined,
    },
  });
}

/**
 * Sends one command per item in one round trip and returns the replies in order; throws the
 * first error. On one server that is one pipeline. On a Cluster, where a pipeline may only hold
 * keys of one node, it is one pipeline per node, items grouped by the slot of `keyOf(item)` (the
 * command's first key). An item whose slot the client does not know yet goes on its own.
 */
export async function sendEach<T>(
  redis: RedisClient,
  items: readonly T[],
  keyOf: (item: T) => string,
  send: (commands: ChainableCommander, item: T) => unknown,
): Promise<unknown[]> {
  if (items.length === 0) return [];
  if (!(redis instanceof Cluster)) {
    const pipeline = redis.pipeline();
    for (const item of items) send(pipeline, item);
    return throwPipelineErrors(await pipeline.exec());
  }
  const byNode = new Map<string, number[]>();
  items.forEach((item, index) => {
    const node = redis.slots[calculateSlot(keyOf(item))]?.join(',') ?? `unknown:${index}`;
    const indexes = byNode.get(node);
    if (indexes) indexes.push(index);
    else byNode.set(node, [index]);
  });
  const replies: unknown[] = new Array(items.length);
  await Promise.all(
    [...byNode.values()].map(async (indexes) => {
      const pipeline = redis.pipeline();
      for (const index of indexes) send(pipeline, items[index]);
      throwPipelineErrors(await pipeline.exec()).forEach((reply, position) => {
        replies[indexes[position]] = reply;
      });
    }),
  );
  return replies;
}

export function throwPipelineErrors(results: [Error | null, unknown][] | null): unknown[] {
  if (!results) throw new Error('Redis pipeline was aborted');
  return results.map(([error, value]) => {
    if (error) throw error;
    return value;
  });
}
