import { Logger, LoggerService } from '@nestjs/common';
import { OwnRedisServer } from '../../../test/support/redis-server';
import { waitFor } from '../../../test/support/wait-for';
import { openRedis, RedisClient } from './redis-connection';

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
