import { AuditLogService } from '@app/audit';
import { baseEnvSchema, loadConfig } from '@app/config';
import { ApiError } from '@app/http';
import { invoiceExportJobId, QueueName } from '@app/queue';
import { RedisKeys } from '@app/redis';
import { ObjectStorage } from '@app/storage';
import { Queue } from 'bullmq';
import Redis from 'ioredis';
import { randomUUID } from 'node:crypto';
import { OwnRedisServer } from '../../../../test/support/redis-server';
import { rawDatabaseHandle, TestStores } from '../../../../test/support/test-stores';
import { InvoiceExportsService } from './invoice-exports.service';

/**
 * An export requested while Redis is unreachable is answered at once with the 503 every route
 * gives then (`unavailable`, Retry-After), with nothing written, so the admin's retry once Redis
 * is back makes the export, and only one. The queue's Redis is a server of the test's own, killed
 * and started again; Postgres is the shared one. Each `it` awaits the request: jest's timeout is
 * what bounds a request that would hang until Redis returns.
 */
describe('InvoiceExportsService during a Redis outage', () => {
  const stores = new TestStores();
  const server = new OwnRedisServer();
  const actor = { type: 'admin', id: null, ip: null } as const;
  const dates = { from: '2026-11-01', to: '2026-11-30' };
  let sut: InvoiceExportsService;
  let accountId: string;

  beforeAll(async () => {
    await Promise.all([stores.setUp(), server.start()]);
    sut = exportsService();
  });

  function exportsService(): InvoiceExportsService {
    const config = loadConfig(baseEnvSchema, { REDIS_URL: server.url, REDIS_PREFIX: stores.prefix });
    // Only pending exports here: the object storage is never reached.
    const storage = null as unknown as ObjectStorage;
    return new InvoiceExportsService(
      config,
      rawDatabaseHandle(stores.sql),
      storage,
      new AuditLogService(),
      300,
    );
  }

  async function newAccount(): Promise<string> {
    const [account] = await stores.sql<{ id: string }[]>`
      insert into accounts (name, billing_email, tier) values ('exports', 'billing@example.com', 'enterprise')
      returning id`;
    return account.id;
  }

  beforeEach(async () => {
    accountId = await newAccount();
  });

  afterAll(async () => {
    await sut.onApplicationShutdown();
    await server.kill();
    await stores.tearDown();
  });

  async function rejectionOf(work: Promise<unknown>): Promise<ApiError> {
    const error = await work.then(
      () => null,
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(ApiError);
    return error as ApiError;
  }

  function expectUnavailable(error: ApiError): void {
    expect({ status: error.getStatus(), body: error.getResponse(), headers: error.headers }).toEqual({
      status: 503,
      body: { error: { code: 'unavailable', message: 'the export queue is unreachable; retry later' } },
      headers: { 'Retry-After': '1' },
    });
  }

  async function written(): Promise<{ exports: number; audits: number }> {
    const [row] = await stores.sql<{ exports: number; audits: number }[]>`
      select (select count(*)::int from invoice_exports where account_id = ${accountId}) as exports,
             (select count(*)::int from audit_log where account_id = ${accountId}
                and action = 'invoice_export.requested') as audits`;
    return row;
  }

  /** Whether the export's build is queued, read in the test's Redis with a connection of the test's. */
  async function buildQueued(exportId: string): Promise<boolean> {
    const connection = new Redis(server.url, { maxRetriesPerRequest: null });
    const queue = new Queue(QueueName.Invoices, {
      connection,
      prefix: new RedisKeys(stores.prefix).bullPrefix(),
    });
    try {
      return (await queue.getJob(invoiceExportJobId(exportId))) !== undefined;
    } finally {
      await queue.close();
      connection.disconnect();
    }
  }

  /** The outage-time request answered 503 and wrote nothing; its retry once Redis is back makes one export. */
  async function expectRetryAfterOutageMakesOneExport(requestKey?: string): Promise<void> {
    const refused = await rejectionOf(sut.request({ accountId, ...dates, requestKey, actor }));
    expectUnavailable(refused);
    expect(await written()).toEqual({ exports: 0, audits: 0 });

    await server.start();
    const retried = await sut.request({ accountId, ...dates, requestKey, actor });

    expect(retried).toEqual(expect.objectContaining({ status: 'pending', ...dates }));
    expect(await written()).toEqual({ exports: 1, audits: 1 });
    expect(await buildQueued(retried.id)).toBe(true);
  }

  it('answers 503 unavailable to the first export request when Redis was down before it', async () => {
    await server.kill();

    await expectRetryAfterOutageMakesOneExport(randomUUID());
  });

  it('answers 503 unavailable when Redis went away after the queue was in use', async () => {
    // Another account's export, so the one under test starts with nothing written.
    const before = await sut.request({ accountId: await newAccount(), ...dates, actor });
    expect(before.status).toBe('pending');
    await server.kill();

    await expectRetryAfterOutageMakesOneExport();
  });

  it('still shows a pending export while Redis is away (its read re-queues the build only when it can)', async () => {
    const requested = await sut.request({ accountId, ...dates, actor });
    await server.kill();

    const shown = await sut.find(accountId, requested.id);

    expect(shown).toEqual(expect.objectContaining({ id: requested.id, status: 'pending', ...dates }));
    await server.start();
  });

  it('shows a pending export to an api whose queue is first opened by that read, Redis away', async () => {
    const requested = await sut.request({ accountId, ...dates, actor });
    await server.kill();
    // Another api process, which has not used its export queue yet.
    const fresh = exportsService();
    try {
      const shown = await fresh.find(accountId, requested.id);

      expect(shown).toEqual(expect.objectContaining({ id: requested.id, status: 'pending', ...dates }));
    } finally {
      await fresh.onApplicationShutdown();
      await server.start();
    }
  });
});
