import { withDeadline } from '@app/http';
import { openBullRedis, RedisClient } from '@app/redis';
import { Worker } from 'bullmq';
import { randomBytes } from 'node:crypto';
import { OwnRedisServer } from '../../../test/support/redis-server';
import { waitFor } from '../../../test/support/wait-for';
import { closeWorker } from './close-worker';

describe('closeWorker', () => {
  const server = new OwnRedisServer();
  const prefix = `test-close-worker-${randomBytes(5).toString('hex')}`;
  let connection: RedisClient;
  let worker: Worker;

  beforeAll(async () => {
    await server.start();
    connection = openBullRedis({ REDIS_URL: server.url, REDIS_CLUSTER: false });
    worker = new Worker('close', async () => 'done', { connection, prefix });
    worker.on('error', () => undefined); // the outage's reconnect errors
    await worker.waitUntilReady();
  });

  afterAll(async () => {
    await connection.quit();
    await server.kill();
  });

  it('closes a worker told to while its connections wait to reconnect, once Redis is back', async () => {
    const blocking = (await worker.backend.blockingClient)!;
    await waitFor(
      async () => blocking.status,
      (status) => status === 'ready',
      { what: 'the worker to block for jobs' },
    );
    await server.kill();
    await waitFor(
      async () => blocking.status,
      (status) => status === 'reconnecting',
      { what: 'the blocking connection to wait between reconnect attempts' },
    );

    const closing = closeWorker(worker);
    await server.start();

    // Worker.close() alone never returned: the disconnect of a connection between attempts never ends it.
    await withDeadline(closing, 10_000, 'the worker did not close');
    expect(blocking.status).toBe('end');
  });
});
