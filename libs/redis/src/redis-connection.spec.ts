import { Logger, LoggerService } from '@nestjs/common';
import Redis from 'ioredis';
import { OwnRedisServer } from '../../../test/support/redis-server';
import { waitFor } from '../../../test/support/wait-for';
import { MAX_RECONNECT_DELAY_MS, openBullRedis, openRedis, RedisClient } from './redis-connection';

/** What the connections told the application's logger, as "<level> <context>: <message>". */
class RecordingLogger implements LoggerService {
  readonly lines: string[] = [];
  log(message: string, ...params: unknown[]) {
    this.lines.push(`log ${params.at(-1)}: ${message}`);
  }
  warn(message: string, ...params: unknown[]) {
    this.lines.push(`warn ${params.at(-1)}: ${message}`);
  }
  error(message: string, ...params: unknown[]) {
    this.lines.push(`error ${params.at(-1)}: ${message}`);
  }
}

describe('openRedis during a Redis outage', () => {
  const server = new OwnRedisServer();
  const logger = new RecordingLogger();
  let client: RedisClient;

  beforeAll(async () => {
    Logger.overrideLogger(logger);
    await server.start();
    // Reconnects every 20 ms, so an outage of a moment holds many failed attempts.
    client = openRedis({ REDIS_URL: server.url, REDIS_CLUSTER: false }, { retryStrategy: () => 20 });
    await client.ping();
  });

  afterAll(async () => {
    client.disconnect();
    await server.kill();
  });

  it('logs one warning however often it fails to reconnect, and one line when Redis is back', async () => {
    let failedAttempts = 0;
    client.on('error', () => failedAttempts++);
    await server.kill();
    await waitFor(
      async () => failedAttempts,
      (attempts) => attempts >= 10,
      { what: 'ten failed reconnects' },
    );
    // The first failure names the cause (the socket's reset or the refused connect).
    const warning = expect.stringMatching(/^warn Redis: connection failed, reconnecting: \S/);
    expect(logger.lines).toEqual([warning]);

    await server.start();
    await waitFor(
      async () => client.status,
      (status) => status === 'ready',
      { what: 'the client to reconnect' },
    );
    expect(await client.ping()).toBe('PONG');
    expect(logger.lines).toEqual([warning, 'log Redis: connection restored']);
  });
});

describe('openBullRedis during a long Redis outage', () => {
  const server = new OwnRedisServer();

  beforeAll(async () => {
    await server.start();
  });

  afterAll(async () => {
    await server.kill();
  });

  it('waits about a second at most between reconnect attempts, as BullMQ’s duplicates of it do', async () => {
    const client = openBullRedis({ REDIS_URL: server.url, REDIS_CLUSTER: false }) as Redis;
    // BullMQ duplicates the connection it is given for a worker's own two.
    const sut = client.duplicate();
    await sut.ping();
    client.disconnect();
    const delays: number[] = [];
    sut.on('reconnecting', (delay: number) => delays.push(delay));
    await server.kill();
    // ioredis' default would be waiting 3.2 s before the seventh attempt and 5 s from the eighth on.
    await waitFor(
      async () => delays.length,
      (attempts) => attempts >= 8,
      { what: 'eight reconnect attempts' },
    );
    await server.start();
    await waitFor(
      async () => sut.status,
      (status) => status === 'ready',
      { what: 'the connection to come back' },
    );
    await sut.quit();

    expect(Math.max(...delays)).toBeLessThan(MAX_RECONNECT_DELAY_MS + 200);
    // Not a reconnect storm either: once grown, a second between attempts.
    expect(delays.slice(6).every((delay) => delay >= MAX_RECONNECT_DELAY_MS)).toBe(true);
  });
});
