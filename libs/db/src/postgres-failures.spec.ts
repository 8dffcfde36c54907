import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { sql as raw } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { TcpProxy } from '../../../test/support/tcp-proxy';
import { PG_ADMIN_URL } from '../../../test/support/test-stores';
import { waitFor } from '../../../test/support/wait-for';
import { openDatabase } from './database';
import { transientPostgresFailure } from './postgres-failures';

/** A port nothing listens on (the discard port), so a connection there is refused at once. */
const CLOSED_PORT_URL = 'postgres://postgres@127.0.0.1:9/postgres';

type Client = postgres.Sql;

const open = (url = PG_ADMIN_URL): Client => postgres(url, { max: 1, onnotice: () => undefined });

/** What `run` rejected with (it must reject). */
async function rejection(run: () => Promise<unknown>): Promise<unknown> {
  try {
    await run();
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

/** Summary of the failure found, or null: the fields a caller reads. */
function sut(error: unknown) {
  const failure = transientPostgresFailure(error);
  return failure && { code: failure.code, condition: failure.condition };
}

/**
 * Real errors from postgres.js against the real Postgres: the classification must match what
 * the driver actually throws (its error class, its codes, drizzle's wrapping), not our idea of it.
 */
describe('transientPostgresFailure', () => {
  const name = `billing_test_pgfail_${randomBytes(4).toString('hex')}`;
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  const admin = open();
  const clients: Client[] = [];
  const client = (target = url.toString()): Client => {
    const sql = open(target);
    clients.push(sql);
    return sql;
  };

  beforeAll(async () => {
    await admin.unsafe(`create database "${name}"`);
    await client()`create table t (id int primary key)`;
  });

  afterAll(async () => {
    await Promise.all(clients.map((sql) => sql.end({ timeout: 5 })));
    await admin.unsafe(`drop database if exists "${name}" with (force)`);
    await admin.unsafe(`drop role if exists "${name}"`);
    await admin.end({ timeout: 5 });
  });

  it('finds a deadlock victim (40P01)', async () => {
    const [a, b] = [client(), client()];
    let bothHoldOne!: () => void;
    const locked = new Promise<void>((resolve) => (bothHoldOne = resolve));
    let holding = 0;
    // Each takes one advisory lock, then waits for the other's: Postgres fails one of them.
    const crossLocks = (sql: Client, first: number, second: number) =>
      sql.begin(async (tx) => {
        await tx`select pg_advisory_xact_lock(${first})`;
        if (++holding === 2) bothHoldOne();
        await locked;
        await tx`select pg_advisory_xact_lock(${second})`;
      });

    const outcomes = await Promise.allSettled([crossLocks(a, 1, 2), crossLocks(b, 2, 1)]);

    const failed = outcomes.filter((outcome) => outcome.status === 'rejected');
    expect(failed).toHaveLength(1);
    expect(sut(failed[0].reason)).toEqual({ code: '40P01', condition: 'deadlock_detected' });
  });

  it('finds a serialization failure (40001)', async () => {
    const [a, b] = [client(), client()];
    let bothRead!: () => void;
    const read = new Promise<void>((resolve) => (bothRead = resolve));
    let reading = 0;
    // Each inserts what the other's read would have seen: no serial order explains both.
    const writeSkew = (sql: Client, id: number) =>
      sql.begin('isolation level serializable', async (tx) => {
        await tx`select count(*) from t`;
        if (++reading === 2) bothRead();
        await read;
        await tx`insert into t values (${id})`;
      });

    const outcomes = await Promise.allSettled([writeSkew(a, 1), writeSkew(b, 2)]);

    const failed = outcomes.filter((outcome) => outcome.status === 'rejected');
    expect(failed).toHaveLength(1);
    expect(sut(failed[0].reason)).toEqual({ code: '40001', condition: 'serialization_failure' });
  });

  it('finds a lock wait past lock_timeout (55P03)', async () => {
    const [holder, waiter] = [client(), client()];
    await holder`select pg_advisory_lock(3)`;
    try {
      const error = await rejection(() =>
        waiter.begin(async (tx) => {
          await tx`set local lock_timeout = 50`;
          await tx`select pg_advisory_xact_lock(3)`;
        }),
      );

      expect(sut(error)).toEqual({ code: '55P03', condition: 'lock_not_available' });
    } finally {
      await holder`select pg_advisory_unlock(3)`;
    }
  });

  it('finds a statement cancelled by statement_timeout (57014)', async () => {
    const error = await rejection(() =>
      client().begin(async (tx) => {
        await tx`set local statement_timeout = 50`;
        await tx`select pg_sleep(5)`;
      }),
    );

    expect(sut(error)).toEqual({ code: '57014', condition: 'query_canceled' });
  });

  it('finds a connection refused for too many connections (53300)', async () => {
    // A role's connection limit (superusers have none) refuses as max_connections does.
    await admin.unsafe(`create role "${name}" login connection limit 0`);
    const asLimitedRole = new URL(url);
    asLimitedRole.username = name;

    const error = await rejection(() => client(asLimitedRole.toString())`select 1`);

    expect(sut(error)).toEqual({ code: '53300', condition: 'too_many_connections' });
  });

  it('finds Postgres shutting down or starting (57P01, 57P02, 57P03), as postgres.js reports them', () => {
    // Not cheap to cause for real here (a server restart); the driver's own error class, as it builds them.
    expectFoundAsBuilt([
      ['57P01', 'admin_shutdown'],
      ['57P02', 'crash_shutdown'],
      ['57P03', 'cannot_connect_now'],
    ]);
  });

  it('finds a connection Postgres could not make for the statement (08001), as dblink reports it', async () => {
    const sql = client();
    await sql`create extension if not exists dblink`;

    const error = await rejection(() => sql`select dblink_connect(${'host=127.0.0.1 port=9 user=postgres'})`);

    expect(sut(error)).toEqual({ code: '08001', condition: 'sqlclient_unable_to_establish_sqlconnection' });
  });

  it('finds the other connection exceptions (08000, 08003, 08004, 08006) and an idle transaction ended (25P03), as postgres.js reports them', () => {
    // Postgres raises these only for connections it makes itself (dblink, postgres_fdw), after
    // the remote end went away: not cheap to cause here.
    expectFoundAsBuilt([
      ['08000', 'connection_exception'],
      ['08003', 'connection_does_not_exist'],
      ['08004', 'sqlserver_rejected_establishment_of_sqlconnection'],
      ['08006', 'connection_failure'],
      ['25P03', 'idle_in_transaction_session_timeout'],
    ]);
  });

  it('finds a transaction left idle past idle_in_transaction_session_timeout, which postgres.js reports as its connection closing', async () => {
    // Postgres sends 25P03 while no statement runs; postgres.js drops that and fails the
    // transaction as CONNECTION_CLOSED, which is why 25P03 itself is only seen as built above.
    const error = await rejection(() =>
      client().begin(async (tx) => {
        await tx`set local idle_in_transaction_session_timeout = 50`;
        const [{ pid }] = await tx<{ pid: number }[]>`select pg_backend_pid() as pid`;
        await waitFor(
          () => admin`select 1 from pg_stat_activity where pid = ${pid}`,
          (rows) => rows.length === 0,
          { what: `the idle backend ${pid} to be ended` },
        );
        await tx`select 1`;
      }),
    );

    expect(sut(error)).toEqual({ code: 'CONNECTION_CLOSED', condition: 'connection_failure' });
  });

  it('finds a connection refused (ECONNREFUSED), also when drizzle wraps it', async () => {
    const sql = client(CLOSED_PORT_URL);

    const direct = await rejection(() => sql`select 1`);
    const wrapped = await rejection(() => drizzle(sql).execute(raw`select 1`));

    expect(sut(direct)).toEqual({ code: 'ECONNREFUSED', condition: 'connection_failure' });
    expect((wrapped as Error).cause).toBeDefined();
    expect(sut(wrapped)).toEqual({ code: 'ECONNREFUSED', condition: 'connection_failure' });
  });

  it('finds a session ended under a running statement, as a restart does (CONNECTION_CLOSED)', async () => {
    const victim = client();
    const [{ pid }] = await victim<{ pid: number }[]>`select pg_backend_pid() as pid`;
    const running = rejection(() => victim`select pg_sleep(5)`);
    await waitUntilActive(pid);

    await admin`select pg_terminate_backend(${pid})`;

    expect(sut(await running)).toEqual({ code: 'CONNECTION_CLOSED', condition: 'connection_failure' });
  });

  it('finds a query sent to a pool that is ending (CONNECTION_ENDED)', async () => {
    const sql = client();
    await sql`select 1`;
    const ending = sql.end({ timeout: 5 });

    const error = await rejection(() => sql`select 1`);
    await ending;

    expect(sut(error)).toEqual({ code: 'CONNECTION_ENDED', condition: 'connection_failure' });
  });

  it('finds a refused connection that our pool’s sql.reserve() met after Postgres went away (ECONNREFUSED)', async () => {
    const upstream = new URL(PG_ADMIN_URL);
    const proxy = await new TcpProxy(upstream.hostname, Number(upstream.port || 5432)).up();
    const database = openDatabase(proxy.via(url.toString()), 2);
    try {
      await database.sql`select 1`;
      await proxy.down();
      // A query first, as the refund path reads the purchase first: it finds the connection lost,
      // so the reserve has to open one.
      expect(sut(await rejection(() => database.sql`select 1`))).toMatchObject({
        condition: 'connection_failure',
      });

      const error = await rejection(() => database.sql.reserve());

      expect(sut(error)).toEqual({ code: 'ECONNREFUSED', condition: 'connection_failure' });
    } finally {
      // Not close(), which waits 5 s: postgres.js never counts a connection lost mid-query as ended.
      await database.sql.end({ timeout: 0 });
      await proxy.down();
    }
  });

  it('does not find a protocol violation (08P01): a retry sends Postgres the same bytes', async () => {
    // A NUL ends the statement's text early in the wire message, so Postgres cannot parse the rest.
    const error = await rejection(() => client().unsafe('select 1\0'));

    expect((error as { code?: string }).code).toBe('08P01');
    expect(sut(error)).toBeNull();
  });

  it('does not find a constraint violation (23505), which a retry cannot fix', async () => {
    const sql = client();
    await sql`insert into t values (100)`;

    const error = await rejection(() => sql`insert into t values (100)`);

    expect((error as { code?: string }).code).toBe('23505');
    expect(sut(error)).toBeNull();
  });

  it('does not find another client’s refused connection (a Redis or S3 socket error)', async () => {
    const error = await new Promise<Error>((resolve) => connect(9, '127.0.0.1').once('error', resolve));

    expect((error as { code?: string }).code).toBe('ECONNREFUSED');
    expect(sut(error)).toBeNull();
    expect(sut(new Error('something else'))).toBeNull();
    expect(sut(undefined)).toBeNull();
  });

  /** Each SQLSTATE, in the driver's own error class as it builds them, is found with its condition. */
  function expectFoundAsBuilt(conditions: [code: string, condition: string][]): void {
    for (const [code, condition] of conditions) {
      const error = new postgres.PostgresError({ code, message: condition } as never);
      expect(sut(error)).toEqual({ code, condition });
    }
  }

  /** Until the backend `pid` runs its statement, so terminating it interrupts that statement. */
  async function waitUntilActive(pid: number): Promise<void> {
    for (let tries = 0; tries < 100; tries++) {
      const rows = await admin`select 1 from pg_stat_activity where pid = ${pid} and state = 'active'`;
      if (rows.length) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error(`backend ${pid} never became active`);
  }
});
