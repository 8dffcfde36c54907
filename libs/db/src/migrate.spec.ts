import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import postgres from 'postgres';
import { PG_ADMIN_URL } from '../../../test/support/test-stores';
import { MIGRATIONS_FOLDER, migrateDatabase } from './migrate';

/**
 * Several migrate runs at once on a database that does not exist yet, as when two deploys (or a
 * migrate container and `npm start`) start together: each must succeed, and apply each migration once.
 */
describe('migrateDatabase run concurrently', () => {
  const name = `billing_test_migrate_${process.pid}_${Date.now()}`;
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  const admin = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => undefined });

  afterAll(async () => {
    await admin.unsafe(`drop database if exists "${name}" with (force)`);
    await admin.end({ timeout: 5 });
  });

  it('all succeed on a fresh database and record each migration once', async () => {
    const runs = await Promise.allSettled(Array.from({ length: 4 }, () => migrateDatabase(url.toString())));
    expect(runs.filter((run) => run.status === 'rejected')).toEqual([]);

    const journal = JSON.parse(readFileSync(join(MIGRATIONS_FOLDER, 'meta', '_journal.json'), 'utf8')) as {
      entries: unknown[];
    };
    const sql = postgres(url.toString(), { max: 1, onnotice: () => undefined });
    try {
      const [row] = await sql<{ applied: number; distinct: number }[]>`
        select count(*)::int as applied, count(distinct hash)::int as distinct
        from drizzle.__drizzle_migrations`;
      expect(row).toEqual({ applied: journal.entries.length, distinct: journal.entries.length });
    } finally {
      await sql.end({ timeout: 5 });
    }
  });
});
