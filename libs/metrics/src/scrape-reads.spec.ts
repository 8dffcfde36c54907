import { openRedis, RedisClient } from '@app/redis';
import { Queue } from 'bullmq';
import { randomBytes } from 'node:crypto';
import { createServer, Server, Socket } from 'node:net';
import postgres from 'postgres';
import { freePort } from '../../../test/support/app-process';
import { PG_ADMIN_URL, REDIS_URL } from '../../../test/support/test-stores';
import { BillingMetrics, SCRAPE_READ_DEADLINE_MS } from './billing-metrics';

type Totals = { count: number; amountMicros: bigint };

/** A host that takes connections and never answers, as a store behind a dead network path does. */
async function unresponsiveHost(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets: Socket[] = [];
  const server: Server = createServer((socket) => sockets.push(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * The reads /metrics makes at scrape time (queue depth from Redis, overdue invoices from
 * Postgres) against stores that stop answering or refuse connections: the page still comes
 * within the deadline, with every other metric and the last values those reads got.
 */
describe('BillingMetrics: scrape-time reads when Redis or Postgres is unreachable', () => {
  const prefix = `test-scrape-${randomBytes(5).toString('hex')}`;
  const clients: RedisClient[] = [];
  const queues: Queue[] = [];
  const sqls: postgres.Sql[] = [];
  let hung: Awaited<ReturnType<typeof unresponsiveHost>>;
  let queue: Queue;

  const redisAt = (url: string) => {
    const client = openRedis({ REDIS_URL: url, REDIS_CLUSTER: false });
    clients.push(client);
    return client;
  };
  const queueAt = (name: string, url: string) => {
    const q = new Queue(name, { connection: redisAt(url), prefix });
    q.on('error', () => undefined); // the reads below report it
    queues.push(q);
    return q;
  };
  const countsOf = (q: Queue) => () =>
    q.getJobCounts('waiting', 'active', 'delayed', 'failed', 'prioritized');
  const totalsFrom = (sql: postgres.Sql) => async (): Promise<Totals> => {
    const [row] = await sql<{ count: number; amount: string }[]>`
      select 2::int as count, 1500000::bigint as amount`;
    return { count: row.count, amountMicros: BigInt(row.amount) };
  };
  const sqlAt = (url: string) => {
    const sql = postgres(url, { max: 1, onnotice: () => undefined });
    sqls.push(sql);
    return sql;
  };

  beforeAll(async () => {
    hung = await unresponsiveHost();
    queue = queueAt('usage-events', REDIS_URL);
    await queue.add('meter-usage-batch', {});
  });

  afterAll(async () => {
    await queue.obliterate({ force: true });
    await Promise.all(queues.map((q) => q.close()));
    for (const client of clients) client.disconnect();
    await Promise.all(sqls.map((sql) => sql.end({ timeout: 0 })));
    await hung.close();
  });

  it('answers within the deadline with the other metrics and the last values read', async () => {
    const metrics = new BillingMetrics('test');
    let usageCounts = countsOf(queue);
    let paymentsCounts = countsOf(queueAt('payments', REDIS_URL));
    let overdue = totalsFrom(sqlAt(PG_ADMIN_URL));
    metrics.watchQueue('usage-events', () => usageCounts());
    metrics.watchQueue('payments', () => paymentsCounts());
    metrics.watchOverdueInvoices(() => overdue());
    metrics.usageEvents.inc({ outcome: 'accepted' }, 3);

    const read = [
      'billing_queue_jobs{queue="usage-events",state="waiting",app="test"} 1\n',
      'billing_queue_jobs{queue="payments",state="waiting",app="test"} 0\n',
      'billing_invoices_overdue{app="test"} 2\n',
      'billing_invoices_overdue_micros{app="test"} 1500000\n',
    ];
    const before = await metrics.registry.metrics();
    for (const line of read) expect(before).toContain(line);

    // Redis stops answering for one queue and refuses connections for the other; Postgres stops answering.
    const hungUrl = `redis://127.0.0.1:${hung.port}`;
    usageCounts = countsOf(queueAt('usage-events', hungUrl));
    const closed = `redis://127.0.0.1:${await freePort()}`;
    paymentsCounts = countsOf(queueAt('payments', closed));
    overdue = totalsFrom(sqlAt(`postgres://postgres@127.0.0.1:${hung.port}/postgres`));

    const startedAt = Date.now();
    const during = await metrics.registry.metrics();
    expect(Date.now() - startedAt).toBeLessThan(SCRAPE_READ_DEADLINE_MS + 1000);
    for (const line of read) expect(during).toContain(line);
    expect(during).toContain('billing_usage_events_total{outcome="accepted",app="test"} 3\n');
    expect(during).toMatch(/^process_cpu_user_seconds_total\{app="test"\} /m);
    // Counted as each read gave up; the two overdue gauges share one read.
    const failures = (await metrics.scrapeReadFailures.get()).values;
    expect(Object.fromEntries(failures.map(({ labels, value }) => [labels.source, value]))).toEqual({
      queue_jobs: 2,
      overdue_invoices: 1,
    });
  });
});
