import { invoiceExportIdFor, invoiceExportKey } from '@app/invoices';
import { invoiceExportJobId, JobName, QUEUE_SETTINGS, QueueName } from '@app/queue';
import { Queue } from 'bullmq';
import { randomUUID } from 'node:crypto';
import { BillingStack } from '../support/billing-stack';
import { TcpProxy } from '../support/tcp-proxy';
import { REDIS_URL } from '../support/test-stores';
import { waitFor } from '../support/wait-for';

/**
 * Redis lost between recording an invoice export and queueing its build: the api reaches Redis
 * through a proxy the test takes down at exactly that moment. The test holds the account row
 * (FOR UPDATE), which the export's insert waits for (its foreign key check), so the request is
 * past its Redis PING and parked on the insert; the proxy goes down, the account is let go, and
 * the queue add that follows finds no Redis. The answer is 503, and it must mean what the 503 of
 * the PING means: nothing was recorded, nothing will be built, and a retry makes the export once.
 * The worker reaches Redis directly and keeps working throughout.
 */
describe('invoice export request that loses Redis after its insert', () => {
  const upstream = new URL(REDIS_URL);
  const proxy = new TcpProxy(upstream.hostname, Number(upstream.port || 6379));
  const env: Record<string, string> = {};
  const stack = new BillingStack({ workers: 1, s3: true, env, workerEnv: { REDIS_URL } });
  const dates = { from: '2026-11-01', to: '2026-11-30' };
  let queue: Queue;

  beforeAll(async () => {
    await proxy.up();
    // The stack's stores are named when it is built; its apps start later, on this environment.
    env.REDIS_URL = proxy.via(stack.stores.redisUrl);
    await stack.start();
    queue = new Queue(QueueName.Invoices, {
      connection: stack.stores.redis,
      prefix: stack.stores.bullPrefix,
    });
    // A first export, so the api's queue is open and ready before the one under test.
    const warm = await stack.admin.post(`/v1/accounts/${await stack.createAccount()}/invoice-exports`, dates);
    expect(warm.status).toBe(202);
  });

  afterAll(async () => {
    await queue.close();
    await stack.stop();
    await proxy.down();
  });

  async function written(accountId: string): Promise<{ exports: string[]; audits: number }> {
    const [row] = await stack.stores.sql<{ exports: string[]; audits: number }[]>`
      select coalesce((select array_agg(status::text) from invoice_exports where account_id = ${accountId}), '{}') as exports,
             (select count(*)::int from audit_log where account_id = ${accountId}
                and action = 'invoice_export.requested') as audits`;
    return row;
  }

  /**
   * Sends the export request with Redis cut between its insert and its queue add; resolves with
   * the answer once Redis is reachable again.
   */
  async function requestLosingRedis(accountId: string, headers: Record<string, string> = {}) {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const holding = stack.stores.sql.begin(async (tx) => {
      await tx`select id from accounts where id = ${accountId} for update`;
      locked();
      await released;
    });
    await isLocked;
    const answer = stack.admin.post(`/v1/accounts/${accountId}/invoice-exports`, dates, headers);
    await waitFor(
      () => stack.stores.sql<{ pid: number }[]>`
        select pid from pg_stat_activity
        where datname = current_database() and wait_event_type = 'Lock'
          and query ilike '%insert into invoice_exports%'`,
      (rows) => rows.length === 1,
      { what: 'the export insert to wait for the held account row' },
    );
    await proxy.down();
    release();
    await holding;
    const response = await answer;
    await proxy.up();
    return response;
  }

  function expectUnavailable(response: { status: number; body: unknown; headers: Headers }): void {
    expect({
      status: response.status,
      body: response.body,
      retryAfter: response.headers.get('retry-after'),
    }).toEqual({
      status: 503,
      body: { error: { code: 'unavailable', message: 'the export queue is unreachable; retry later' } },
      retryAfter: '1',
    });
  }

  async function readyExport(accountId: string, exportId: string) {
    return waitFor(
      async () => (await stack.admin.get(`/v1/accounts/${accountId}/invoice-exports/${exportId}`)).body,
      (body) => body?.status === 'ready',
      { what: `export ${exportId} to be ready` },
    );
  }

  it('leaves no pending export behind for a request without Idempotency-Key, and its retry makes one', async () => {
    const accountId = await stack.createAccount();

    expectUnavailable(await requestLosingRedis(accountId));

    expect(await written(accountId)).toEqual({ exports: [], audits: 0 });
    const retried = await stack.admin.post(`/v1/accounts/${accountId}/invoice-exports`, dates);
    expect(retried.status).toBe(202);
    await readyExport(accountId, retried.body.id);
    expect(await written(accountId)).toEqual({ exports: ['ready'], audits: 1 });
    expect(await stack.s3!.keys(`exports/${accountId}/`)).toEqual([
      invoiceExportKey(accountId, retried.body.id),
    ]);
  });

  it('builds nothing for a build queued by an add whose answer was lost, and the keyed retry builds once', async () => {
    const accountId = await stack.createAccount();
    const key = randomUUID();
    const exportId = invoiceExportIdFor(accountId, key);

    expectUnavailable(await requestLosingRedis(accountId, { 'idempotency-key': key }));
    expect(await written(accountId)).toEqual({ exports: [], audits: 0 });

    // What an add that reached Redis but whose answer was lost leaves behind: the build's job.
    await queue.add(
      JobName.BuildInvoiceExport,
      { exportId, accountId },
      { ...QUEUE_SETTINGS[QueueName.Invoices].jobOptions, jobId: invoiceExportJobId(exportId) },
    );
    await waitFor(
      () => queue.getJob(invoiceExportJobId(exportId)),
      (job) => job === undefined,
      { what: 'the worker to take the orphan build job' },
    );
    expect(await stack.s3!.keys(`exports/${accountId}/`)).toEqual([]);

    const retried = await stack.admin.post(`/v1/accounts/${accountId}/invoice-exports`, dates, {
      'idempotency-key': key,
    });
    expect({ status: retried.status, id: retried.body.id }).toEqual({ status: 202, id: exportId });
    await readyExport(accountId, exportId);
    expect(await written(accountId)).toEqual({ exports: ['ready'], audits: 1 });
    expect(await stack.s3!.keys(`exports/${accountId}/`)).toEqual([invoiceExportKey(accountId, exportId)]);
  });
});
