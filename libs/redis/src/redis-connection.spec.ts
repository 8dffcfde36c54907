import { withDeadline } from '@app/http';
import { Logger, LoggerService } from '@nestjs/common';
import Redis from 'ioredis';
import { AddressInfo, connect, createServer, Socket } from 'node:net';
import { OwnRedisServer } from '../../../test/support/redis-server';
import { waitFor } from '../../../test/support/wait-for';
import {
  closeRedis,
  MAX_RECONNECT_DELAY_MS,
  openBullRedis,
  openRedis,
  QUIT_DEADLINE_MS,
  RedisClient,
} from './redis-connection';

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
    // BullMQ duplicates the connection it is given for a worker's blocking one.
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

describe('openBullRedis and the command timeout', () => {
  const server = new OwnRedisServer();

  beforeAll(async () => {
    await server.start();
  });

  afterAll(async () => {
    await server.kill();
  });

  it('lets a worker’s blocking command wait past REDIS_COMMAND_TIMEOUT_MS, as its duplicates do', async () => {
    const target = { REDIS_URL: server.url, REDIS_CLUSTER: false, REDIS_COMMAND_TIMEOUT_MS: 500 };
    const client = openBullRedis(target) as Redis;
    // BullMQ blocks on a duplicate of the connection it is given.
    const blocking = client.duplicate();
    try {
      // Blocks for a second, twice the timeout a fail-fast connection would fail it at.
      expect(await blocking.blpop('nothing-here', 1)).toBeNull();
    } finally {
      blocking.disconnect();
      client.disconnect();
    }
  });
});

describe('closeRedis', () => {
  const server = new OwnRedisServer();

  beforeAll(async () => {
    await server.start();
  });

  afterAll(async () => {
    await server.kill();
  });

  it('ends a connection whose Redis is away at once, where its QUIT would wait for Redis', async () => {
    const sut = openBullRedis({ REDIS_URL: server.url, REDIS_CLUSTER: false }) as Redis;
    await sut.ping();
    await server.kill();
    await waitFor(
      async () => sut.status,
      (status) => status === 'reconnecting',
      { what: 'the connection to wait between reconnect attempts' },
    );
    // Queued until Redis is back (maxRetriesPerRequest: null): a QUIT would queue behind it.
    sut.ping().catch(() => undefined);

    try {
      await withDeadline(closeRedis(sut), QUIT_DEADLINE_MS, 'closeRedis waited for Redis');
    } finally {
      sut.disconnect();
      await server.start();
    }
  });

  it('drops a connection whose QUIT gets no answer within QUIT_DEADLINE_MS', async () => {
    // Between the client and Redis; once silenced, Redis hears nothing more, as behind a dead network path.
    let silenced = false;
    const sockets: Socket[] = [];
    const proxy = createServer((client) => {
      const upstream = connect(server.port, '127.0.0.1');
      sockets.push(client, upstream);
      client.on('data', (data) => silenced || upstream.write(data));
      upstream.pipe(client);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const { port } = proxy.address() as AddressInfo;
    const sut = openBullRedis({ REDIS_URL: `redis://127.0.0.1:${port}`, REDIS_CLUSTER: false });
    try {
      await sut.ping();
      silenced = true;
      const closed = new Promise((resolve) => sockets[0].once('close', resolve));

      await withDeadline(closeRedis(sut), QUIT_DEADLINE_MS + 1_000, 'closeRedis waited for the QUIT');
      await withDeadline(closed, 1_000, 'the connection stayed open');
    } finally {
      sut.disconnect();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => proxy.close(resolve));
    }
  });
});
