import { DATABASE, DatabaseHandle, openDatabase } from '@app/db';
import { ErrorFilter } from '@app/http';
import { openRedis, REDIS, RedisClient } from '@app/redis';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { randomUUID } from 'node:crypto';
import { PG_ADMIN_URL, REDIS_URL } from '../../../test/support/test-stores';
import { HealthController } from './health.controller';

/** The readiness answer over HTTP, with a real Redis and a Postgres that refuses every session. */
describe('HealthController', () => {
  let app: NestFastifyApplication;
  let redis: RedisClient;
  let database: DatabaseHandle;

  beforeAll(async () => {
    redis = openRedis({ REDIS_URL, REDIS_CLUSTER: false });
    // A database that does not exist: Postgres answers, and refuses the session.
    const missing = new URL(PG_ADMIN_URL);
    missing.pathname = `/no_such_database_${randomUUID().replaceAll('-', '')}`;
    database = openDatabase(missing.toString(), 1);
    const module = await Test.createTestingModule({
      controllers: [HealthController],
      providers: [
        { provide: DATABASE, useValue: database },
        { provide: REDIS, useValue: redis },
      ],
    }).compile();
    app = module.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { logger: false });
    app.useGlobalFilters(new ErrorFilter());
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
  });

  afterAll(async () => {
    await app.close();
    await database.close();
    redis.disconnect();
  });

  it('answers 503 not_ready naming the dependency that is down, with every check', async () => {
    const response = await app.inject({ method: 'GET', url: '/health/ready' });
    expect(response.statusCode).toBe(503);
    expect(response.json()).toEqual({
      error: { code: 'not_ready', message: 'down: postgres' },
      checks: { redis: 'ok', postgres: 'down' },
    });
  });
});
