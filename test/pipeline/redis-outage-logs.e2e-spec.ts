import { BillingStack } from '../support/billing-stack';
import { OwnRedisServer } from '../support/redis-server';
import { waitFor } from '../support/wait-for';

/** Lines of an app's output that are not its JSON logs: what Node, ioredis or BullMQ printed themselves. */
function unstructuredLines(output: string): string[] {
  return output
    .split('\n')
    .filter((line) => line.trim() !== '')
    .filter((line) => {
      try {
        JSON.parse(line);
        return false;
      } catch {
        return true;
      }
    });
}

/** The JSON log lines of an app's output that contain `text`. */
function logLinesWith(output: string, text: string): string[] {
  return output.split('\n').filter((line) => line.startsWith('{') && line.includes(text));
}

/**
 * Redis goes away for a while under idle apps: every BullMQ queue and worker of the processes
 * keeps failing to reconnect. Their errors go to the JSON logs, once per message rather than at
 * every reconnect, nothing is printed outside them, and the processes run on and recover. A
 * worker told to stop meanwhile stops once Redis is back, closing its workers and queues.
 */
describe('Redis outage: queue, worker and catalog errors', () => {
  const redisServer = new OwnRedisServer();
  let stack: BillingStack;

  beforeAll(async () => {
    await redisServer.start();
    stack = new BillingStack({ workers: 1, redisUrl: redisServer.url });
    await stack.start();
  });

  afterAll(async () => {
    await stack.stop();
    await redisServer.kill();
  });

  it('logs the queues’ errors through the app logger, a few lines only, and the apps recover', async () => {
    const [worker] = stack.workers;
    const outputBefore = { worker: worker.output.length, ingest: stack.ingest.output.length };
    await redisServer.kill();
    await waitFor(
      async () => logLinesWith(worker.output.slice(outputBefore.worker), '"context":"Queue"'),
      (lines) => lines.length > 0,
      { what: 'the worker to log a queue error' },
    );
    // Our connections retry every second at most (@app/redis): twenty seconds is many failed reconnects
    // per connection, and several failed catalog polls (each fails after two reconnects).
    await new Promise((resolve) => setTimeout(resolve, 20_000));

    expect(worker.running).toBe(true);
    expect(stack.ingest.running).toBe(true);
    const workerOutage = worker.output.slice(outputBefore.worker);
    const ingestOutage = stack.ingest.output.slice(outputBefore.ingest);
    expect(unstructuredLines(workerOutage)).toEqual([]);
    expect(unstructuredLines(ingestOutage)).toEqual([]);
    const queueLines = logLinesWith(workerOutage, '"context":"Queue"');
    // One per distinct message (reset, refused, closed...), not one per reconnect of each of the
    // worker's dozen-odd queues and workers.
    expect(queueLines.length).toBeLessThan(10);
    // The catalog's version poll (every 500 ms in every app) fails at each reconnect attempt of its
    // connection, for as long as the outage lasts: each message is logged once.
    for (const outage of [workerOutage, ingestOutage]) {
      const messages = logLinesWith(outage, '"context":"CatalogCache"').map((line) => JSON.parse(line).msg);
      expect(messages.length).toBeGreaterThan(0);
      expect(new Set(messages).size).toBe(messages.length);
    }

    await redisServer.start();
    for (const app of [worker, stack.ingest]) {
      await waitFor(
        async () => (await fetch(`${app.url}/health/ready`)).status,
        (status) => status === 200,
        { what: `${app.app} to be ready again` },
      );
    }
  });

  it('stops a worker told to during an outage once Redis is back, every worker and queue closed gracefully', async () => {
    const [worker] = stack.workers;
    const outputBefore = worker.output.length;
    await redisServer.kill();
    // From here its connections wait between reconnect attempts: when BullMQ closed a worker then,
    // its blocking connection never ended and the close never returned.
    await waitFor(
      async () => logLinesWith(worker.output.slice(outputBefore), 'connection failed, reconnecting'),
      (lines) => lines.length > 0,
      { what: 'the worker to lose Redis' },
    );
    const stopped = worker.stop();
    await redisServer.start();
    await stopped;

    // Past QueueWorkers' deadline it would have gone on without the close, its jobs left to stall.
    expect(logLinesWith(worker.output.slice(outputBefore), 'did not close')).toEqual([]);
  });
});
