import { freePort } from '../../../test/support/app-process';
import { OwnRedisServer } from '../../../test/support/redis-server';
import { REDIS_URL } from '../../../test/support/test-stores';
import { waitFor } from '../../../test/support/wait-for';
import { waitForRedis } from './wait-for-redis';

/** What waitForRedis told its logger, as "<level> <line>". */
function recordingLogger() {
  const lines: string[] = [];
  return {
    lines,
    warn: (line: string) => lines.push(`warn ${line}`),
    info: (line: string) => lines.push(`info ${line}`),
  };
}

describe('waitForRedis', () => {
  const server = new OwnRedisServer();

  afterAll(() => server.kill());

  it('waits for a Redis that starts after it, saying once what it waits for and then that it connected', async () => {
    server.port = await freePort();
    const logger = recordingLogger();
    let attempts = 0;
    const sut = waitForRedis(
      { REDIS_URL: server.url, REDIS_CLUSTER: false },
      { logger, retryDelayMs: () => (attempts++, 20) },
    );
    let resolved = false;
    void sut.then(() => (resolved = true));
    // Many refused attempts, one line.
    await waitFor(
      async () => attempts,
      (count) => count >= 20,
      { what: 'twenty refused attempts' },
    );
    expect(resolved).toBe(false);
    expect(logger.lines).toEqual([
      `warn waiting for Redis at 127.0.0.1:${server.port} (ECONNREFUSED); retrying every second until it answers`,
    ]);

    await server.start();
    await sut;
    expect(logger.lines).toHaveLength(2);
    expect(logger.lines[1]).toMatch(
      new RegExp(`^info connected to Redis at 127.0.0.1:${server.port} after \\d+ s$`),
    );
  });

  it('resolves without a word when Redis answers at once', async () => {
    const logger = recordingLogger();
    await waitForRedis({ REDIS_URL: REDIS_URL, REDIS_CLUSTER: false }, { logger });
    expect(logger.lines).toEqual([]);
  });

  it('throws the refusal of a Redis that is up, as for a wrong user or password', async () => {
    const url = new URL(REDIS_URL);
    url.username = 'no-such-user';
    url.password = 'wrong';
    await expect(waitForRedis({ REDIS_URL: url.toString(), REDIS_CLUSTER: false })).rejects.toThrow(
      /WRONGPASS/,
    );
  });

  it('leaves no signal handler behind', async () => {
    const before = process.listenerCount('SIGTERM');
    server.port ||= await freePort();
    await server.kill();
    const sut = waitForRedis({ REDIS_URL: server.url, REDIS_CLUSTER: false }, { retryDelayMs: () => 20 });
    await waitFor(
      async () => process.listenerCount('SIGTERM'),
      (count) => count === before + 1,
      { what: 'the wait to handle SIGTERM' },
    );
    await server.start();
    await sut;
    expect(process.listenerCount('SIGTERM')).toBe(before);
  });
});
