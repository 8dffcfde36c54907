import { Public, withDeadline } from '@app/http';
import { DATABASE, DatabaseHandle } from '@app/db';
import { REDIS, RedisClient } from '@app/redis';
import { Controller, Get, HttpCode, Inject, ServiceUnavailableException } from '@nestjs/common';
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
      throw new ServiceUnavailableException({
        error: { code: 'not_ready', message: 'a dependency is down' },
        checks: { redis, postgres },
      });
    }
    return { status: 'ok', checks: { redis: 'ok', postgres: 'ok' } };
  }
}
