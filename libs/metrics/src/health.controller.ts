import { ApiError, Public, withDeadline } from '@app/http';
import { DATABASE, DatabaseHandle } from '@app/db';
import { REDIS, RedisClient } from '@app/redis';
import { Controller, Get, HttpCode, Inject } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';

@ApiExcludeController()
@Public()
@Controller('health')
export class HealthController {
  constructor(
    @Inject(DATABASE) private readonly database: DatabaseHandle,
    @Inject(REDIS) private readonly redis: RedisClient,
  ) {}

  /** Liveness: the process answers. */
  @Get('live')
  @HttpCode(200)
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /** Readiness: Redis and Postgres answer within a second. */
  @Get(['ready', ''])
  async ready(): Promise<{ status: 'ok'; checks: Record<string, 'ok'> }> {
    const checks = await Promise.allSettled([
      withDeadline(this.redis.ping(), 1000),
      withDeadline(this.database.sql`select 1`, 1000),
    ]);
    const [redis, postgres] = checks.map((check) => (check.status === 'fulfilled' ? 'ok' : 'down'));
    if (redis !== 'ok' || postgres !== 'ok') {
      const down = Object.entries({ redis, postgres }).filter(([, state]) => state === 'down');
      // An ApiError: the error filter keeps its body; other exceptions leave with their message only.
      throw new ApiError(503, 'not_ready', `down: ${down.map(([name]) => name).join(', ')}`, {
        checks: { redis, postgres },
      });
    }
    return { status: 'ok', checks: { redis: 'ok', postgres: 'ok' } };
  }
}
