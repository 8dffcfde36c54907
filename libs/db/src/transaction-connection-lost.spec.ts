import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { TcpProxy } from '../../../test/support/tcp-proxy';
import { PG_ADMIN_URL } from '../../../test/support/test-stores';
import { waitFor } from '../../../test/support/wait-for';
import { transientPostgresFailure } from './postgres-failures';

type Client = postgres.Sql;

/** How a statement settled: 'ran', or what it rejected with. */
const outcome = (statement: Promise<unknown>): Promise<unknown> =>
  statement.then(
    () => 'ran',
    (error: unknown) => error,
  );

/** Every pending promise callback has run: what a callback's return sends (its commit) is sent. */
const settleCallbacks = () => new Promise((resolve) => setImmediate(resolve));

const lost = (result: unknown) => ({
  code: (result as { code?: string }).code,
  condition: transientPostgresFailure(result)?.condition,
});

/**
 * Our patch of postgres.js (patches/postgres+3.4.9.patch): a sql.begin() whose connection was
 * lost keeps its callback running, and the pool reopens that same connection for the next
 * caller; the callback's later statements must fail, never run in that caller's session
 * (porsager/postgres#1216, #1186). Our money transactions await other work (S3) inside them.
 */
describe('a transaction whose connection was lost', () => {
  const name = `billing_test_txlost_${randomBytes(4).toString('hex')}`;
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  const upstream = new URL(PG_ADMIN_URL);
  const admin = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => undefined });
  let direct: Client;
  let proxy: TcpProxy;
  let sql: Client;

  beforeAll(async () => {
    await admin.unsafe(`create database "${name}"`);
    direct = postgres(url.toString(), { max: 1, onnotice: () => undefined });
    await direct`create table t (id int primary key)`;
  });

  /** One connection: the pool reopens the lost transaction's connection for the next caller. */
  const viaProxy = (options: postgres.Options<never> = {}): Client =>
    postgres(proxy.via(url.toString()), { max: 1, onnotice: () => undefined, ...options });

  beforeEach(async () => {
    proxy = await new TcpProxy(upstream.hostname, Number(upstream.port || 5432)).up();
    sql = viaProxy();
  });

  afterEach(async () => {
    // Not a graceful end, which would wait for statements a lost connection never answers.
    await sql.end({ timeout: 0 });
    await proxy.down();
  });

  afterAll(async () => {
    await direct.end({ timeout: 5 });
    await admin.unsafe(`drop database if exists "${name}" with (force)`);
    await admin.end({ timeout: 5 });
  });

  it('fails its late statements and commit, which never land in the next transaction on the reopened connection', async () => {
    let firstWaiting!: () => void;
    const firstIsWaiting = new Promise<void>((resolve) => (firstWaiting = resolve));
    let resumeFirst!: () => void;
    const firstMayResume = new Promise<void>((resolve) => (resumeFirst = resolve));
    let lateStatementsSettled!: (results: unknown[]) => void;
    const lateStatements = new Promise<unknown[]>((resolve) => (lateStatementsSettled = resolve));

    const first = outcome(
      sql.begin(async (tx) => {
        await tx`select 1`;
        firstWaiting();
        // As an invoice render awaits S3 inside its transaction.
        await firstMayResume;
        lateStatementsSettled([
          await outcome(tx`insert into t values (201)`),
          await outcome(tx.savepoint((savepoint) => savepoint`insert into t values (203)`)),
        ]);
        // Returning commits: that commit must not reach the second transaction either.
      }),
    );
    await firstIsWaiting;
    await proxy.down();
    expect(lost(await first)).toMatchObject({ condition: 'connection_failure' });
    await proxy.up();

    const second = outcome(
      sql.begin(async (tx) => {
        await tx`insert into t values (202)`;
        resumeFirst();
        await lateStatements;
        await settleCallbacks();
        await tx`select 1`;
        throw new Error('the second transaction rolls back');
      }),
    );

    expect(await second).toMatchObject({ message: 'the second transaction rolls back' });
    expect(await direct`select id from t where id in (201, 202, 203)`).toEqual([]);
    expect((await lateStatements).map(lost)).toEqual(
      Array(2).fill({ code: 'CONNECTION_CLOSED', condition: 'connection_failure' }),
    );
  });

  it('fails its statements queued behind the one the connection was lost under', async () => {
    let statementsSent!: (pid: number) => void;
    const sent = new Promise<number>((resolve) => (statementsSent = resolve));
    const statements: Promise<unknown>[] = [];
    const settled: unknown[] = [];
    await sql.end({ timeout: 0 });
    // A pipeline of one: the statement after the running one fills it, so the next one waits in
    // the transaction's own queue. (postgres.js reads max_pipeline but its types omit it.)
    const pipelineOfOne = { max: 1, max_pipeline: 1 };
    sql = viaProxy(pipelineOfOne);

    const first = outcome(
      sql.begin(async (tx) => {
        const [{ pid }] = await tx<{ pid: number }[]>`select pg_backend_pid() as pid`;
        for (const statement of [tx`select pg_sleep(5)`, tx`select 2`, tx`select 3`])
          statements.push(outcome(statement).then((result) => settled.push(result)));
        statementsSent(pid);
        await Promise.all(statements);
      }),
    );
    const pid = await sent;
    await waitFor(
      () => admin`select 1 from pg_stat_activity where pid = ${pid} and state = 'active'`,
      (rows) => rows.length > 0,
      { what: `backend ${pid} to run the statement its connection is lost under` },
    );
    await proxy.down();

    expect(lost(await first)).toMatchObject({ condition: 'connection_failure' });
    await settleCallbacks();
    expect(settled.map(lost)).toEqual(
      Array(3).fill({ code: 'CONNECTION_CLOSED', condition: 'connection_failure' }),
    );
  });
});
