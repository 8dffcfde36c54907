import { constants } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import Redis, { ReplyError } from 'ioredis';
import { MAX_RECONNECT_DELAY_MS, RedisTarget } from './redis-connection';
import { ERROR_REPEAT_MS } from './repeated-error-log';

/** Replies of a Redis that is up but cannot serve yet (a replica without its master, a busy script). */
const NOT_YET_SERVING = /^(LOADING|BUSY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN)\b/;
const STOP_SIGNALS = ['SIGTERM', 'SIGINT'] as const;

export interface WaitForRedisOptions {
  /** Told what is awaited (warn, once and then every few minutes) and when Redis answered after a wait (info). */
  logger?: { warn(line: string): void; info(line: string): void };
  /** Between PINGs. */
  retryDelayMs?: (attempt: number) => number;
}

/**
 * Resolves once the Redis node of `target` answers a PING, however long that takes: an app started
 * before Redis (a machine booting, Redis restarting with a large AOF) waits instead of crashing on
 * its first command, and starts within about a second of Redis's return. Only a reply of a Redis
 * that is up and refuses us (a wrong password) is thrown, to stop with its message.
 *
 * Nothing is open meanwhile, so SIGTERM or SIGINT ends the process at once: as a container's PID 1,
 * Node would otherwise ignore them and `docker compose stop` wait its grace period to kill it.
 */
export async function waitForRedis(
  target: RedisTarget,
  {
    logger = { warn: () => undefined, info: () => undefined },
    retryDelayMs = (attempt) => Math.min(250 * 2 ** (attempt - 1), MAX_RECONNECT_DELAY_MS),
  }: WaitForRedisOptions = {},
): Promise<void> {
  const url = new URL(target.REDIS_URL);
  const where = `${url.hostname}:${url.port || '6379'}`;
  const startedAt = Date.now();
  let loggedAt = 0;
  const stop = (signal: (typeof STOP_SIGNALS)[number]) => process.exit(128 + constants.signals[signal]);
  try {
    for (let attempt = 1; ; attempt++) {
      const cause = await ping(target.REDIS_URL);
      if (cause === null) {
        if (loggedAt) logger.info(`connected to Redis at ${where} after ${secondsSince(startedAt)} s`);
        return;
      }
      if (!loggedAt) {
        for (const signal of STOP_SIGNALS) process.on(signal, stop);
        logger.warn(`waiting for Redis at ${where} (${cause}); retrying every second until it answers`);
        loggedAt = Date.now();
      } else if (Date.now() - loggedAt >= ERROR_REPEAT_MS) {
        logger.warn(`still waiting for Redis at ${where} (${cause}), for ${secondsSince(startedAt)} s`);
        loggedAt = Date.now();
      }
      await sleep(retryDelayMs(attempt));
    }
  } finally {
    for (const signal of STOP_SIGNALS) process.off(signal, stop);
  }
}

/** null once Redis answers; else why not (the socket's error code, or Redis's reply). */
async function ping(url: string): Promise<string | null> {
  // No retries of its own: the loop above paces the attempts and says what failed.
  const probe = new Redis(url, {
    lazyConnect: true,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    connectTimeout: 5_000,
  });
  let socketError: (Error & { code?: string }) | undefined;
  probe.on('error', (error: Error) => (socketError = error));
  try {
    await probe.connect();
    await probe.ping();
    return null;
  } catch (error) {
    const reply = [error, socketError].find(
      (candidate): candidate is Error => candidate instanceof ReplyError,
    );
    if (reply && !NOT_YET_SERVING.test(reply.message)) throw reply;
    // "Connection is closed." says nothing; the socket's error names the cause (ECONNREFUSED...).
    const cause: Error & { code?: string } = reply ?? socketError ?? (error as Error);
    return cause.code ?? cause.message;
  } finally {
    // Ended already after a failed connect; disconnecting again would leave a 2 s timer running.
    if (probe.status !== 'end') probe.disconnect();
  }
}

function secondsSince(startMs: number): number {
  return Math.round((Date.now() - startMs) / 1000);
}
