import { baseEnvSchema, loadConfig } from '@app/config';
import { isRedisUnavailable, withDeadline } from '@app/http';
import { randomUUID } from 'node:crypto';
import { freePort } from '../../../test/support/app-process';
import { AlertMailer } from './alert-mailer.service';

/**
 * The emails queue is opened on first use, after the commit of a route that raised an alert (an
 * admin statement run, a budget change): opened while Redis is unreachable, the enqueue must fail
 * within seconds (the raiser logs it and the sweep enqueues later), not hold the request until
 * Redis is back.
 */
describe('AlertMailer while Redis is unreachable', () => {
  it('fails its first enqueue within seconds as Redis unavailable', async () => {
    // Nothing listens there: every connect is refused, as when Redis's host is down.
    const config = loadConfig(baseEnvSchema, {
      REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
      REDIS_PREFIX: 'test-alert-mailer',
    });
    const sut = new AlertMailer(config);
    try {
      const failure = await withDeadline(sut.enqueue([randomUUID()]), 6_000, 'waited for Redis').catch(
        (error: unknown) => error,
      );

      // The deadline's message, or another error's, if it did not fail as Redis being unreachable.
      expect(isRedisUnavailable(failure) ? 'unavailable' : (failure as Error).message).toBe('unavailable');
    } finally {
      await sut.onApplicationShutdown();
    }
  });
});
