import { CatalogCache } from '@app/catalog';
import { defineLedgerScripts } from '@app/ledger';
import { BillingMetrics } from '@app/metrics';
import { RedisKeys } from '@app/redis';
import { randomBytes } from 'node:crypto';
import {
  insertStoredEvents,
  rawDatabaseHandle,
  TestSql,
  TestStores,
} from '../../../../test/support/test-stores';
import { KeySpendStore } from './key-spend.store';
import { spendPeriodAt } from './key-spend-period';

/**
 * KeySpendStore against a real Postgres and Redis: a missing counter is created from Postgres
 * while no batch of the account moves in between, and when batches keep moving it is created as
 * read after a bounded number of reads, counted in billing_key_spend_loaded_as_read_total.
 */
describe('KeySpendStore', () => {
  const stores = new TestStores();
  let sql: TestSql;
  let keys: RedisKeys;
  let catalog: CatalogCache;
  let accountId: string;
  let keyId: string;
  let monthlyKeyId: string;

  beforeAll(async () => {
    await stores.setUp();
    sql = stores.sql;
    keys = new RedisKeys(stores.prefix);
    defineLedgerScripts(stores.redis);
    [{ id: accountId }] = await sql<{ id: string }[]>`
      insert into accounts (name, billing_email, tier) values ('keys', 'billing@example.com', 'developer')
      returning id`;
    [{ id: keyId }] = await sql<{ id: string }[]>`
      insert into api_keys (account_id, name, role, prefix, secret_hash, limit_micros, limit_period)
      values (${accountId}, 'limited', 'member', ${randomBytes(6).toString('hex')}, ${randomBytes(32)},
              5000000, 'daily')
      returning id`;
    [{ id: monthlyKeyId }] = await sql<{ id: string }[]>`
      insert into api_keys (account_id, name, role, prefix, secret_hash, limit_micros, limit_period)
      values (${accountId}, 'monthly', 'member', ${randomBytes(6).toString('hex')}, ${randomBytes(32)},
              5000000, 'monthly')
      returning id`;
    // $1.25 of the key's usage today, committed.
    await sql`
      insert into usage_events (account_id, event_id, api_key_id, model_id, prompt_tokens, completion_tokens,
        cached_tokens, reasoning_tokens, cost_micros, price_version_id, batch_id, occurred_at, received_at)
      values (${accountId}, 'e1', ${keyId}, 'm', 1, 1, 0, 0, 1250000, 1, 'b1', now(), now())`;
    await stores.redis.hset(keys.balance(accountId), 'bal', '100000000', 'gen', '0');
    catalog = new CatalogCache(rawDatabaseHandle(sql), stores.redis, keys);
    await catalog.onModuleInit();
  });

  afterAll(async () => {
    await catalog.onModuleDestroy();
    await stores.tearDown();
  });

  /** The store on a database whose every read a batch of the account overtakes (its gen moves) while `overtaken.always`. */
  function storeOn(metrics: BillingMetrics, overtaken: { reads: number; always: boolean }): KeySpendStore {
    const moving = ((strings: TemplateStringsArray, ...values: unknown[]) => {
      overtaken.reads += 1;
      const read = sql(strings, ...(values as never[]));
      return overtaken.always
        ? stores.redis.hincrby(keys.balance(accountId), 'gen', 1).then(() => read)
        : read;
    }) as unknown as TestSql;
    return new KeySpendStore(stores.redis, rawDatabaseHandle(moving), keys, catalog, metrics);
  }

  const loadedAsRead = async (metrics: BillingMetrics) =>
    (await metrics.keySpendLoadedAsRead.get()).values.reduce((sum, value) => sum + value.value, 0);

  it.each([
    {
      when: 'from one read when no batch of the account moves meanwhile',
      overtaking: false,
      reads: 1,
      loaded: 0,
    },
    {
      when: 'as read after 8 overtaken reads, counted in billing_key_spend_loaded_as_read_total',
      overtaking: true,
      reads: 8,
      loaded: 1,
    },
  ])('creates the counter $when', async ({ overtaking, reads, loaded }) => {
    const metrics = new BillingMetrics('spec');
    const overtaken = { reads: 0, always: overtaking };
    const now = Date.now();
    const counter = keys.keySpend(accountId, keyId, spendPeriodAt('daily', now).id);
    await stores.redis.del(counter);

    const spend = await storeOn(metrics, overtaken).current(catalog.apiKey(keyId)!, now);

    expect(spend?.spentMicros).toBe(1_250_000n);
    expect(overtaken.reads).toBe(reads);
    expect(await loadedAsRead(metrics)).toBe(loaded);
    expect(await stores.redis.get(counter)).toBe('1250000');
    // One load of state Redis did not hold, however many reads it took; the next look finds the counter.
    await storeOn(metrics, overtaken).current(catalog.apiKey(keyId)!, now);
    expect((await metrics.redisStateLoaded.get()).values).toEqual([
      { labels: { kind: 'key_spend' }, value: 1 },
    ]);
  });

  it('loads from every event that occurred in the period, however early or late ingest received it', async () => {
    let n = 0;
    const event = (apiKeyId: string, costMicros: number, occurredAt: string, receivedAt: string) =>
      insertStoredEvents(sql, [
        { accountId, eventId: `edge-${++n}`, apiKeyId, costMicros, occurredAt, receivedAt },
      ]);
    // October 2026. The earliest instant, received 5 minutes before it occurred (the clock skew
    // ingest allows); the last instant, received 35 days after (the oldest ingest accepts).
    await event(monthlyKeyId, 1, '2026-10-01T00:00:00.000Z', '2026-09-30T23:55:00.000Z');
    await event(monthlyKeyId, 20, '2026-10-31T23:59:59.999Z', '2026-12-05T23:59:59.999Z');
    // Outside October by a millisecond either way, and another key's event inside it.
    await event(monthlyKeyId, 300, '2026-09-30T23:59:59.999Z', '2026-09-30T23:55:00.000Z');
    await event(monthlyKeyId, 4_000, '2026-11-01T00:00:00.000Z', '2026-11-01T00:00:00.000Z');
    await event(keyId, 50_000, '2026-10-15T00:00:00.000Z', '2026-10-15T00:00:00.000Z');

    const store = new KeySpendStore(
      stores.redis,
      rawDatabaseHandle(sql),
      keys,
      catalog,
      new BillingMetrics('spec'),
    );
    const spend = await store.current(catalog.apiKey(monthlyKeyId)!, Date.parse('2026-10-15T12:00:00Z'));

    expect(spend?.period.id).toBe('m:2026-10');
    expect(spend?.spentMicros).toBe(21n);
  });
});
