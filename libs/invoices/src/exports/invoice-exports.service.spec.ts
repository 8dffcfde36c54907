import { AuditLogService } from '@app/audit';
import { baseEnvSchema, loadConfig } from '@app/config';
import { ObjectStorage } from '@app/storage';
import { clientsLeftOpen, otherClients, watchedOwnRedis } from '../../../../test/support/redis-server';
import { rawDatabaseHandle, TestStores } from '../../../../test/support/test-stores';
import { InvoiceExportsService } from './invoice-exports.service';

/**
 * The export queue's connection is closed at shutdown: BullMQ leaves a connection it was handed
 * open when its queue closes. Watched in a Redis of the test's own, where nothing else connects.
 */
describe('InvoiceExportsService shutdown', () => {
  const stores = new TestStores();
  const redis = watchedOwnRedis();

  beforeAll(() => stores.setUp());
  afterAll(() => stores.tearDown());

  it('leaves no connection of its own open in Redis once an export was queued', async () => {
    const config = loadConfig(baseEnvSchema, { REDIS_URL: redis.server.url, REDIS_PREFIX: stores.prefix });
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
    expect(await otherClients(redis.observer())).toHaveLength(1);

    await sut.onApplicationShutdown();

    expect(await clientsLeftOpen(redis.observer())).toEqual([]);
  });
});
