import { randomBytes } from 'node:crypto';
import { DatabaseHandle, openDatabase } from '@app/db';
import postgres from 'postgres';
import { TcpProxy } from '../../../../test/support/tcp-proxy';
import { PG_ADMIN_URL } from '../../../../test/support/test-stores';
import { waitFor } from '../../../../test/support/wait-for';
import { RecordRefundService } from './record-refund.service';

/**
 * The refund lock against a real Postgres behind a proxy the test cuts, as a blip does: the lock
 * is held across the Stripe call, the longest wait of any database session in the api.
 */
describe('RecordRefundService.oneRefundAtATime', () => {
  const name = `billing_test_refund_lock_${randomBytes(4).toString('hex')}`;
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  const admin = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => undefined });
  const upstream = new URL(PG_ADMIN_URL);
  let proxy: TcpProxy;
  let database: DatabaseHandle;
  let records: RecordRefundService;

  /** Only the database is used by the lock; the rest of the service is not. */
  const recordsOn = (handle: DatabaseHandle) =>
    new RecordRefundService(
      handle,
      null as never,
      null as never,
      null as never,
      null as never,
      null as never,
    );

  /** Sessions of the test's database, seen from Postgres itself (not through the proxy). */
  const sessions = async () =>
    (await admin<{ n: number }[]>`select count(*)::int as n from pg_stat_activity where datname = ${name}`)[0]
      .n;

  beforeAll(async () => {
    await admin.unsafe(`create database "${name}"`);
  });

  beforeEach(async () => {
    proxy = await new TcpProxy(upstream.hostname, Number(upstream.port || 5432)).up();
    database = openDatabase(proxy.via(url.toString()), 4);
    records = recordsOn(database);
  });

  afterEach(async () => {
    // Not close(), which waits 5 s: postgres.js never counts a connection lost mid-query as ended.
    await database.sql.end({ timeout: 0 });
    await proxy.down();
  });

  afterAll(async () => {
    await admin.unsafe(`drop database if exists "${name}" with (force)`);
    await admin.end({ timeout: 5 });
  });

  it('leaves the pool working after Postgres was lost while the lock was held', async () => {
    // Every connection of the pool open, as in a busy api: the blip cuts them all.
    await Promise.all([1, 2, 3, 4].map((n) => database.sql`select ${n}::int`));

    const outcome = await records
      .oneRefundAtATime('purchase-1', async () => {
        // The blip comes while the work waits on Stripe, with no statement running.
        await proxy.down();
        await waitFor(sessions, (n) => n === 0, { what: 'the proxied sessions to end' });
        await proxy.up();
        return 'refunded';
      })
      .then(
        (value) => ({ value }),
        (error: Error) => ({ error: error.message }),
      );

    const answers = await Promise.allSettled(
      Array.from({ length: 10 }, (_, index) => database.sql<{ n: number }[]>`select ${index}::int as n`),
    );
    const failures = answers.flatMap((answer) =>
      answer.status === 'rejected' ? [String((answer.reason as Error).message)] : [],
    );
    expect(failures).toEqual([]);
    for (let index = 0; index < 10; index++) {
      expect((await database.sql<{ n: number }[]>`select ${index}::int as n`)[0].n).toBe(index);
    }
    // The refund was made at Stripe: its caller hears about it, not of the lost lock.
    expect(outcome).toEqual({ value: 'refunded' });
    // And the next refund of the purchase gets the lock.
    await expect(records.oneRefundAtATime('purchase-1', async () => 'again')).resolves.toBe('again');
  });

  it('still runs the refunds of one purchase one at a time', async () => {
    const order: string[] = [];
    let releaseFirst!: () => void;
    const firstMayEnd = new Promise<void>((resolve) => (releaseFirst = resolve));
    let firstStarted!: () => void;
    const firstHasLock = new Promise<void>((resolve) => (firstStarted = resolve));

    const first = records.oneRefundAtATime('purchase-2', async () => {
      order.push('first start');
      firstStarted();
      await firstMayEnd;
      order.push('first end');
    });
    await firstHasLock;
    const second = records.oneRefundAtATime('purchase-2', async () => {
      order.push('second');
    });
    const other = records.oneRefundAtATime('purchase-3', async () => {
      order.push('other purchase');
    });
    await other;
    // The second is queued on the lock in Postgres before the first may end.
    await waitFor(
      async () =>
        (
          await admin<{ n: number }[]>`
            select count(*)::int as n from pg_stat_activity
            where datname = ${name} and wait_event_type = 'Lock' and wait_event = 'advisory'`
        )[0].n,
      (n) => n === 1,
      { what: 'the second refund to wait for the lock' },
    );
    releaseFirst();
    await Promise.all([first, second]);

    expect(order).toEqual(['first start', 'other purchase', 'first end', 'second']);
  });
});
