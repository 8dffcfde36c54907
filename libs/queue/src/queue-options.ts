import { QueueOptions } from 'bullmq';

/**
 * Options of every Queue the apps add jobs through (never a Worker's). BullMQ's version check is
 * one INFO sent once, when the Queue's connection first becomes ready; its failure is kept by the
 * Queue for good. On our fail-fast connections (openRedis) an INFO in flight when Redis went away
 * fails after a few reconnects: every later add then failed with it though Redis was back, until
 * the app restarted. Without the check a Queue only waits for its connection to be ready, which
 * cannot fail. The usage-worker's Workers still check the version (and the eviction policy) on
 * their own connections, which wait for Redis instead of failing.
 */
export const QUEUE_OPTIONS = { skipVersionCheck: true } as const satisfies Partial<QueueOptions>;
