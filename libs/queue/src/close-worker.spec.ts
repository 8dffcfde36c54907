import { withDeadline } from '@app/http';
import { openBullRedis, RedisClient } from '@app/redis';
import { Queue, Worker } from 'bullmq';
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

describe('closeWorker, Redis away since the worker started', () => {
  const server = new OwnRedisServer();
  const prefix = `test-close-worker-${randomBytes(5).toString('hex')}`;
  let connection: RedisClient;

  beforeAll(async () => {
    await server.start();
    await server.kill();
  });

  afterAll(() => {
    connection.disconnect();
  });

  it('closes the worker while Redis is still away: it never took a job', async () => {
    connection = openBullRedis({ REDIS_URL: server.url, REDIS_CLUSTER: false });
    const sut = new Worker('never-connected', async () => 'done', { connection, prefix });
    let failures = 0;
    sut.on('error', () => failures++);
    let closed = false;
    sut.on('closed', () => (closed = true));
    await waitFor(
      async () => failures,
      (count) => count > 0,
      { what: 'the worker to fail to reach Redis' },
    );

    // A graceful close waited for Redis to come back before it even began.
    await withDeadline(closeWorker(sut), 10_000, 'the worker did not close');
    expect(closed).toBe(true);
  });
});

describe('closeWorker, a job in hand', () => {
  const server = new OwnRedisServer();
  const prefix = `test-close-worker-${randomBytes(5).toString('hex')}`;
  let connection: RedisClient;
  let queue: Queue;

  beforeAll(async () => {
    await server.start();
    connection = openBullRedis({ REDIS_URL: server.url, REDIS_CLUSTER: false });
    queue = new Queue('busy', { connection, prefix });
  });

  afterAll(async () => {
    await queue.close();
    await connection.quit();
    await server.kill();
  });

  it('finishes the job before the worker is closed', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    const sut = new Worker(
      'busy',
      async () => {
        started();
        await released;
        return 'done';
      },
      { connection, prefix },
    );
    const job = await queue.add('slow', {});
    await running;

    const closing = closeWorker(sut);
    // Only once the close is under way (a forced one has disconnected by then) does the job end.
    await new Promise((resolve) => setImmediate(resolve));
    release();
    await withDeadline(closing, 10_000, 'the worker did not close');

    expect(await job.getState()).toBe('completed');
  });
});
