import { TestStores } from '../../../test/support/test-stores';
import { migrationsBefore } from '../../../test/support/migrations-before';
import { migrateDatabase } from './migrate';

/**
 * 0015 adds accounts.tier_changed_at to accounts that may have changed tier already: each takes
 * its latest tier change from the audit log, so usage that ran before a downgrade to Free is charged.
 */
describe('migration 0015 (accounts.tier_changed_at)', () => {
  const stores = new TestStores();
  let before: ReturnType<typeof migrationsBefore>;

  beforeAll(async () => {
    // drizzle/ as it was before 0015.
    before = migrationsBefore('0015_account_tier_changed_at');
    await stores.setUp(before.folder);
  });

  afterAll(async () => {
    await stores.tearDown();
    before.remove();
  });

  it('takes the latest audited tier change of each account, and leaves the others null', async () => {
    const { sql } = stores;
    const account = async (name: string, tier: string) => {
      const [{ id }] = await sql<{ id: string }[]>`
        insert into accounts (name, billing_email, tier) values (${name}, 'a@example.com', ${tier}) returning id`;
      return id;
    };
    const audit = (accountId: string, action: string, at: string) => sql`
      insert into audit_log (account_id, actor_type, action, target_type, target_id, created_at)
      values (${accountId}, 'admin', ${action}, 'account', ${accountId}, ${at})`;
    const downgradedTwice = await account('downgraded twice', 'free');
    await audit(downgradedTwice, 'account.tier_changed', '2026-10-01T08:00:00.123Z');
    await audit(downgradedTwice, 'account.tier_changed', '2026-11-02T09:30:00.456Z');
    await audit(downgradedTwice, 'account.updated', '2026-11-03T00:00:00Z');
    const neverChanged = await account('never changed', 'free');
    await audit(neverChanged, 'account.updated', '2026-11-03T00:00:00Z');

    await migrateDatabase(stores.databaseUrl);

    const rows = await sql<{ id: string; tier_changed_at: Date | null }[]>`
      select id, tier_changed_at from accounts where id in ${sql([downgradedTwice, neverChanged])}`;
    expect(Object.fromEntries(rows.map((row) => [row.id, row.tier_changed_at]))).toEqual({
      [downgradedTwice]: new Date('2026-11-02T09:30:00.456Z'),
      [neverChanged]: null,
    });
  });
});
