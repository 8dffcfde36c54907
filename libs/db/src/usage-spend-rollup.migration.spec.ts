import { insertStoredEvents, TestStores } from '../../../test/support/test-stores';
import { migrationsBefore } from '../../../test/support/migrations-before';
import { migrateDatabase } from './migrate';

/**
 * 0008 and 0009 add the hourly usage rollups to a database that already has a ledger and events:
 * what was written before them is counted by their backfills, what is written after by their triggers.
 */
describe('migrations 0008 and 0009 (usage_spend_hourly, usage_scope_spend_hourly)', () => {
  const stores = new TestStores();
  let before: ReturnType<typeof migrationsBefore>;

  beforeAll(async () => {
    // drizzle/ as it was before 0008.
    before = migrationsBefore('0008_usage_spend_hourly');
    await stores.setUp(before.folder);
  });

  afterAll(async () => {
    await stores.tearDown();
    before.remove();
  });

  it('count the debits and events already stored, and the triggers those written after', async () => {
    const { sql } = stores;
    const [{ id }] = await sql<{ id: string }[]>`
      insert into accounts (name, billing_email) values ('existing', 'a@example.com') returning id`;
    await sql`
      insert into ledger_entries (account_id, kind, amount_micros, idempotency_key, created_at)
      values (${id}, 'grant', 50000000, 'grant:1', '2026-11-02T09:00:00Z'),
             (${id}, 'usage', -100, 'usage:1', '2026-11-02T09:00:00Z'),
             (${id}, 'usage', -20, 'usage:2', '2026-11-02T09:59:59.999Z'),
             (${id}, 'usage', -3, 'usage:3', '2026-11-02T10:00:00Z'),
             (${id}, 'refund', -7000, 'refund:1', '2026-11-02T10:00:00Z')`;

    const event = (
      eventId: string,
      apiKeyId: string | null,
      projectId: string | null,
      costMicros: number,
      at: string,
    ) =>
      insertStoredEvents(sql, [
        { accountId: id, eventId, apiKeyId, projectId, costMicros, occurredAt: at, receivedAt: at },
      ]);
    await event('e1', 'key-1', 'project-1', 100, '2026-11-02T09:00:00Z');
    await event('e2', 'key-1', null, 20, '2026-11-02T09:59:59.999Z');
    await event('e3', null, null, 3, '2026-11-02T10:00:00Z');

    await migrateDatabase(stores.databaseUrl);
    await sql`
      insert into ledger_entries (account_id, kind, amount_micros, idempotency_key, created_at)
      values (${id}, 'usage', -4000, 'usage:4', '2026-11-02T10:30:00Z')`;
    await event('e4', 'key-1', 'project-1', 4000, '2026-11-02T10:30:00Z');

    const hours = await sql<{ hour: Date; spend: bigint }[]>`
      select hour, sum(spend_micros)::bigint as spend from usage_spend_hourly
      where account_id = ${id} group by hour order by hour`;
    expect(hours).toEqual([
      { hour: new Date('2026-11-02T09:00:00Z'), spend: 120n },
      { hour: new Date('2026-11-02T10:00:00Z'), spend: 4003n },
    ]);
    const scopes = await sql<{ scope: string; scope_id: string; hour: Date; spend: bigint }[]>`
      select scope, scope_id, received_hour as hour, sum(spend_micros)::bigint as spend
      from usage_scope_spend_hourly where account_id = ${id}
      group by 1, 2, 3 order by 1, 2, 3`;
    expect(scopes).toEqual([
      { scope: 'api_key', scope_id: 'key-1', hour: new Date('2026-11-02T09:00:00Z'), spend: 120n },
      { scope: 'api_key', scope_id: 'key-1', hour: new Date('2026-11-02T10:00:00Z'), spend: 4000n },
      { scope: 'project', scope_id: 'project-1', hour: new Date('2026-11-02T09:00:00Z'), spend: 100n },
      { scope: 'project', scope_id: 'project-1', hour: new Date('2026-11-02T10:00:00Z'), spend: 4000n },
    ]);
  });
});
