import Redis, { RedisOptions } from 'ioredis';

/**
 * One place that opens Redis connections. BullMQ workers need maxRetriesPerRequest: null
 * (blocking commands); every other connection fails fast so a request never hangs on Redis.
 */
export function openRedis(url: string, options: RedisOptions = {}): Redis {
  return new Redis(url, { enableAutoPipelining: true, maxRetriesPerRequest: 2, ...options });
}

export function openBullRedis(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: false });
}
