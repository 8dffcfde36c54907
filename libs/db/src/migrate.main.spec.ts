import { execFile } from 'node:child_process';
import { connect, createServer, Server } from 'node:net';
import { join } from 'node:path';
import postgres from 'postgres';
import { freePort } from '../../../test/support/app-process';
import { PG_ADMIN_URL } from '../../../test/support/test-stores';
import { waitFor } from '../../../test/support/wait-for';

const ROOT = join(__dirname, '..', '..', '..');
const MIGRATE_MAIN = join(ROOT, 'dist', 'libs', 'db', 'src', 'migrate.main.js');

interface MigrateRun {
  /** What it has printed so far. */
  output: () => string;
  exited: Promise<{ code: number; stdout: string; stderr: string }>;
}

/** `npm run db:migrate` as operators run it: its exit code and what it printed. */
function startMigrate(databaseUrl: string): MigrateRun {
  let output = '';
  let exit!: (result: Awaited<MigrateRun['exited']>) => void;
  const exited = new Promise<Awaited<MigrateRun['exited']>>((resolve) => (exit = resolve));
  const child = execFile(
    process.execPath,
    [MIGRATE_MAIN],
    { cwd: ROOT, env: { PATH: process.env.PATH ?? '', DATABASE_URL: databaseUrl } },
    (error, stdout, stderr) => exit({ code: error ? Number(error.code) : 0, stdout, stderr }),
  );
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return { output: () => output, exited };
}

const runMigrate = (databaseUrl: string) => startMigrate(databaseUrl).exited;

/** A TCP relay to the real Postgres: a Postgres that comes up on `port` when this listens. */
function relayToPostgres(port: number): Promise<Server> {
  const target = new URL(PG_ADMIN_URL);
  const relay = createServer((client) => {
    const upstream = connect(Number(target.port || 5432), target.hostname);
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  return new Promise((resolve) => relay.listen(port, '127.0.0.1', () => resolve(relay)));
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

  it('waits for a Postgres that comes up after it starts, then migrates', async () => {
    const port = await freePort();
    const late = new URL(url);
    late.port = String(port);
    late.pathname = `/${name}_late`;
    const run = startMigrate(late.toString());
    await waitFor(run.output, (output) => output.includes(`waiting for Postgres at 127.0.0.1:${port}`), {
      what: 'migrate to wait for Postgres',
    });
    const relay = await relayToPostgres(port);
    try {
      const result = await run.exited;
      expect(result).toMatchObject({
        code: 0,
        stdout: expect.stringContaining(`migrations applied to ${name}_late`),
      });
      expect(result.stdout + result.stderr).not.toContain(password);
    } finally {
      relay.close();
      await admin.unsafe(`drop database if exists "${name}_late" with (force)`);
    }
  });
});
