import { closeRedis, openRedis } from '@app/redis';
import { refusedRedisUrl } from '../../../test/support/redis-server';
import { isRedisUnavailable } from './redis-unavailable';

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

  it('does not take an error of our own for Redis being away', () => {
    expect(isRedisUnavailable(new TypeError("Cannot read properties of undefined (reading 'id')"))).toBe(
      false,
    );
  });
});
