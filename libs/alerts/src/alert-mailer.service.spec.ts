import { baseEnvSchema, loadConfig } from '@app/config';
import { randomUUID } from 'node:crypto';
import { outcomeWhileRedisRefused, refusedRedisUrl } from '../../../test/support/redis-server';
import { AlertMailer } from './alert-mailer.service';

/**
 * The emails queue is opened on first use, after the commit of a route that raised an alert (an
 * admin statement run, a budget change): opened while Redis is unreachable, the enqueue must fail
 * within seconds (the raiser logs it and the sweep enqueues later), not hold the request until
 * Redis is back.
 */
describe('AlertMailer while Redis is unreachable', () => {
  it('fails its first enqueue within seconds as Redis unavailable', async () => {
    const config = loadConfig(baseEnvSchema, {
      REDIS_URL: await refusedRedisUrl(),
      REDIS_PREFIX: 'test-alert-mailer',
    });
    const sut = new AlertMailer(config);
    try {
      expect(await outcomeWhileRedisRefused(sut.enqueue([randomUUID()]))).toBe('unavailable');
    } finally {
      await sut.onApplicationShutdown();
    }
  });
});
