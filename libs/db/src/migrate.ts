import { drizzle } from 'drizzle-orm/postgres-js';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import { join } from 'node:path';
import postgres from 'postgres';

/** The drizzle/ folder at the repository root, found from both src/ (ts) and dist/ (js). */
export const MIGRATIONS_FOLDER = join(
  __dirname,
  __dirname.includes(`${join('dist', 'libs')}`) ? '../../../../drizzle' : '../../../drizzle',
);

/** Creates the database named in the URL when it does not exist yet (fresh machines, test runs). */
export async function ensureDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const sql = postgres(admin.toString(), { max: 1, onnotice: () => undefined });
  try {
    const rows = await sql`select 1 from pg_database where datname = ${name}`;
    if (rows.length === 0) await sql.unsafe(`create database "${name.replace(/"/g, '""')}"`);
  } catch (error) {
    // Another process may have created it between the check and the create: Postgres reports it
    // as 42P04, or as a unique violation on pg_database when both creates ran at once.
    const { code, constraint_name } = error as { code?: string; constraint_name?: string };
    const createdMeanwhile =
      code === '42P04' || (code === '23505' && constraint_name === 'pg_database_datname_index');
    if (!createdMeanwhile) throw error;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/**
 * Serialises migrate runs on one database: drizzle's migrator takes no lock, so two runs at once
 * (two deploys, or a migrate container and `npm start`) race on CREATE TABLE / CREATE TYPE and fail.
 */
const MIGRATION_LOCK_KEY = 'billing:drizzle-migrations';

export async function migrateDatabase(url: string, migrationsFolder = MIGRATIONS_FOLDER): Promise<void> {
  await ensureDatabase(url);
  // The lock lives on a connection of its own, held until the migrations are done; a run that
  // waits for it then finds them applied and does nothing.
  const lock = postgres(url, { max: 1, onnotice: () => undefined });
  const sql = postgres(url, { max: 1, onnotice: () => undefined });
  try {
    await lock`select pg_advisory_lock(hashtextextended(${MIGRATION_LOCK_KEY}, 0))`;
    await migrate(drizzle(sql), { migrationsFolder });
  } finally {
    await sql.end({ timeout: 5 });
    // Ending the session releases its advisory lock.
    await lock.end({ timeout: 5 });
  }
}
