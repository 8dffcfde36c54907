import { execFile } from 'node:child_process';
import { join } from 'node:path';
import postgres from 'postgres';
import { PG_ADMIN_URL } from '../../../test/support/test-stores';

const ROOT = join(__dirname, '..', '..', '..');
const MIGRATE_MAIN = join(ROOT, 'dist', 'libs', 'db', 'src', 'migrate.main.js');

/** `npm run db:migrate` as operators run it: its exit code and what it printed. */
function runMigrate(databaseUrl: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [MIGRATE_MAIN],
      { cwd: ROOT, env: { PATH: process.env.PATH ?? '', DATABASE_URL: databaseUrl } },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code) : 0, stdout, stderr }),
    );
  });
}

describe('npm run db:migrate (migrate.main)', () => {
  const name = `billing_test_migrate_main_${process.pid}_${Date.now()}`;
  const admin = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => undefined });
  /** Trust authentication ignores the password: it is there to be kept out of the output. */
  const password = 'pw-never-printed';
  const url = new URL(PG_ADMIN_URL);
  url.username = 'postgres';
  url.password = password;
  url.pathname = `/${name}`;

  afterAll(async () => {
    await admin.unsafe(`drop database if exists "${name}" with (force)`);
    await admin.end({ timeout: 5 });
  });

  it("prints Postgres's reason when a migration fails, and never the password", async () => {
    await admin.unsafe(`create database "${name}"`);
    const db = postgres(url.toString(), { max: 1, onnotice: () => undefined });
    // The first migration creates this type: its CREATE TYPE fails.
    await db`create type account_status as enum ('active')`;
    await db.end({ timeout: 5 });

    const run = await runMigrate(url.toString());

    expect(run.code).toBe(1);
    expect(run.stderr).toContain('Failed query: CREATE TYPE "public"."account_status"');
    expect(run.stderr).toContain('cause: type "account_status" already exists (42710)');
    expect(run.stdout + run.stderr).not.toContain(password);
  });
});
