import { closeRedis, openRedis, RedisClient, RedisKeys, RedisTarget, whenReachable } from '@app/redis';
import { Queue } from 'bullmq';
import { RedisOptions } from 'ioredis';
import { QueueName } from './queue-names';
import { QUEUE_OPTIONS } from './queue-options';
import { logQueueErrors } from './queue-error-log';

/**
 * A queue that jobs are added to from outside a worker (after a commit, on a request path), opened
 * on first use on a connection of its own. The connection fails fast (openRedis, not BullMQ's
 * retry-forever one): a lost add is its caller's to report or its sweep's to repair, never a
 * reason to hold a request until Redis is back. Closed, connection included, at shutdown (BullMQ
 * never closes a connection it is handed).
 */
export class LazyQueue<Payload> {
  private queue: Queue<Payload> | null = null;
  private connection: RedisClient | null = null;

  constructor(
    private readonly name: QueueName,
    private readonly target: RedisTarget & { REDIS_PREFIX: string },
    private readonly redisOptions: RedisOptions = {},
  ) {}

  /**
   * The queue once its connection answers. A BullMQ queue waits for its connection to be ready
   * before its first command, for as long as Redis is away, and maxRetriesPerRequest never applies
   * to that wait; the PING's does, so a queue first used during an outage fails within seconds.
   */
  async reachable(): Promise<Queue<Payload>> {
    const queue = this.open();
    await whenReachable(this.connection!);
    return queue;
  }

  /** A PING on the queue's connection, even one that looks ready: Redis may have left since. */
  async ping(): Promise<void> {
    this.open();
    await this.connection!.ping();
  }

  /** The queue as it is, opened if need be; its commands may wait for a connection not ready yet. */
  open(): Queue<Payload> {
    if (!this.queue) {
      this.connection = openRedis(this.target, this.redisOptions);
      this.queue = new Queue<Payload>(this.name, {
        connection: this.connection,
        prefix: new RedisKeys(this.target.REDIS_PREFIX).bullPrefix(),
        ...QUEUE_OPTIONS,
      });
      logQueueErrors(this.queue, `queue ${this.name}`);
    }
    return this.queue;
  }

  async close(): Promise<void> {
    await this.queue?.close();
    if (this.connection) await closeRedis(this.connection);
  }
}
