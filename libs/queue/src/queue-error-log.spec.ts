import { ERROR_REPEAT_MS, openBullRedis, RedisClient } from '@app/redis';
import { Queue, Worker } from 'bullmq';
import { randomBytes } from 'node:crypto';
import { OwnRedisServer } from '../../../test/support/redis-server';
import { waitFor } from '../../../test/support/wait-for';
import { QueueErrorLog } from './queue-error-log';

describe('QueueErrorLog', () => {
  it('logs a message once, then once per repeat window with the number of repeats', () => {
    const lines: string[] = [];
    let now = 0;
    const sut = new QueueErrorLog({ error: (line: string) => lines.push(line) }, () => now);

    for (let i = 0; i < 500; i++) sut.report('queue a', new Error('connect ECONNREFUSED'));
    sut.report('worker b', new Error('Connection is closed.'));
    now += ERROR_REPEAT_MS - 1;
    sut.report('worker b', new Error('connect ECONNREFUSED'));
    now += 1;
    sut.report('worker b', new Error('connect ECONNREFUSED'));

    expect(lines).toEqual([
      'queue a: connect ECONNREFUSED',
      'worker b: Connection is closed.',
      'worker b: connect ECONNREFUSED (500 more since it was last logged)',
    ]);
  });
});

describe('QueueErrorLog during a Redis outage', () => {
  const server = new OwnRedisServer();
  const prefix = `test-queue-errors-${randomBytes(5).toString('hex')}`;
  const lines: string[] = [];
  const connections: RedisClient[] = [];
  let queue: Queue;
  let worker: Worker;
  let consoleError: jest.SpyInstance;

  const connect = () => {
    const connection = openBullRedis({ REDIS_URL: server.url, REDIS_CLUSTER: false });
    connections.push(connection);
    return connection;
  };

  beforeAll(async () => {
    await server.start();
    const sut = new QueueErrorLog({ error: (line: string) => lines.push(line) });
    queue = new Queue('outage', { connection: connect(), prefix });
    worker = new Worker('outage', async () => 'done', { connection: connect(), prefix });
    sut.watch(queue, 'queue outage');
    sut.watch(worker, 'worker outage');
    sut.watch(queue, 'queue outage'); // a second watch adds no second listener
    await queue.waitUntilReady();
    await worker.waitUntilReady();
    consoleError = jest.spyOn(console, 'error');
  });

  afterAll(async () => {
    consoleError.mockRestore();
    await worker.close();
    await queue.close();
    for (const connection of connections) connection.disconnect();
    await server.kill();
  });

  it('logs each error of an outage once, prints nothing on the console, and the queue works once Redis is back', async () => {
    let emitted = 0;
    queue.on('error', () => emitted++);
    await server.kill();
    await waitFor(
      async () => emitted,
      (count) => count >= 5,
      { what: 'the queue to fail to reconnect five times' },
    );

    expect(lines.length).toBeGreaterThan(0);
    // One line per distinct message however many times each queue and worker emitted it.
    expect(new Set(lines).size).toBe(lines.length);
    expect(lines.length).toBeLessThan(emitted);
    expect(consoleError).not.toHaveBeenCalled();

    await server.start();
    const job = await queue.add('after-outage', {});
    await waitFor(
      () => job.getState(),
      (state) => state === 'completed',
      { what: 'the job added after the outage to be done' },
    );
  });
});
