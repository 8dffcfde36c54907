import { AuditLogService } from '@app/audit';
import { baseEnvSchema, loadConfig } from '@app/config';
import { ObjectStorage } from '@app/storage';
import Redis from 'ioredis';
import { otherClients, OwnRedisServer } from '../../../../test/support/redis-server';
import { rawDatabaseHandle, TestStores } from '../../../../test/support/test-stores';
import { waitFor } from '../../../../test/support/wait-for';
import { InvoiceExportsService } from './invoice-exports.service';

/**
 * The export queue's connection is closed at shutdown: BullMQ leaves a connection it was handed
 * open when its queue closes. Watched in a Redis of the test's own, where nothing else connects.
 */
describe('InvoiceExportsService shutdown', () => {
  const stores = new TestStores();
  const server = new OwnRedisServer();
  let observer: Redis;

  beforeAll(async () => {
    await Promise.all([stores.setUp(), server.start()]);
    observer = new Redis(server.url);
  });

  afterAll(async () => {
    observer.disconnect();
    await server.kill();
    await stores.tearDown();
  });

  it('leaves no connection of its own open in Redis once an export was queued', async () => {
    const config = loadConfig(baseEnvSchema, { REDIS_URL: server.url, REDIS_PREFIX: stores.prefix });
    // request() only records the export and queues its build: it never reaches the object storage.
    const storage = null as unknown as ObjectStorage;
    const sut = new InvoiceExportsService(
      config,
      rawDatabaseHandle(stores.sql),
      storage,
      new AuditLogService(),
      300,
    );
    const [account] = await stores.sql<{ id: string }[]>`
      insert into accounts (name, billing_email, tier) values ('exports', 'billing@example.com', 'enterprise')
      returning id`;
    await sut.request({
      accountId: account.id,
      from: '2026-11-01',
      to: '2026-11-30',
      actor: { type: 'admin', id: null, ip: null },
    });
    expect(await otherClients(observer)).toHaveLength(1);

    await sut.onApplicationShutdown();

    const left = await waitFor(
      () => otherClients(observer),
      (clients) => clients.length === 0,
      { what: 'Redis to see the queue connection closed', timeoutMs: 3_000 },
    ).catch(() => otherClients(observer));
    expect(left).toEqual([]);
  });
});
