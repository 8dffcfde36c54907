import { closeRedis, openRedis } from '@app/redis';
import { refusedRedisUrl } from '../../../test/support/redis-server';
import { TcpProxy } from '../../../test/support/tcp-proxy';
import { REDIS_URL } from '../../../test/support/test-stores';
import { isRedisUnavailable } from './redis-unavailable';
import { withDeadline } from './with-deadline';

/**
 * What a command of our fail-fast connections (openRedis) fails with while Redis is unreachable,
 * plain or Cluster: each must read as Redis being unavailable (503 `unavailable`), not as our bug
 * (500 `internal`).
 */
describe('isRedisUnavailable', () => {
  it.each([
    ['a plain connection', false],
    ['a Cluster connection', true],
  ])('recognises the failure of a command on %s to a Redis nobody answers for', async (_, cluster) => {
    const redis = openRedis({ REDIS_URL: await refusedRedisUrl(), REDIS_CLUSTER: cluster });
    try {
      const failure = await redis.get('any-key').then(
        () => null,
        (error: Error) => error,
      );

      expect({
        name: failure?.name,
        message: failure?.message,
        unavailable: isRedisUnavailable(failure),
      }).toEqual({
        name: failure?.name,
        message: failure?.message,
        unavailable: true,
      });
    } finally {
      await closeRedis(redis);
    }
  });

  it('recognises the failure of a command on a connection whose Redis stalls, within its command timeout', async () => {
    const shared = new URL(REDIS_URL);
    const proxy = await new TcpProxy(shared.hostname, Number(shared.port || 6379)).up();
    const redis = openRedis({
      REDIS_URL: proxy.via(REDIS_URL),
      REDIS_CLUSTER: false,
      REDIS_COMMAND_TIMEOUT_MS: 500,
    });
    try {
      await redis.ping();
      proxy.stall();
      const failure = await withDeadline(redis.get('any-key'), 2_000, 'no answer within 2 s').then(
        () => null,
        (error: Error) => error,
      );

      expect({ message: failure?.message, unavailable: isRedisUnavailable(failure) }).toEqual({
        message: 'Command timed out',
        unavailable: true,
      });
    } finally {
      proxy.resume();
      await closeRedis(redis);
      await proxy.down();
    }
  });

  it('does not take an error of our own for Redis being away', () => {
    expect(isRedisUnavailable(new TypeError("Cannot read properties of undefined (reading 'id')"))).toBe(
      false,
    );
  });
});
