import { BALANCE_SHARDS } from '@app/db';
import { BillingMetrics } from '@app/metrics';
import { newUsageBatchId } from '@app/queue';
import { RedisKeys } from '@app/redis';
import { randomUUID } from 'node:crypto';
import { rawDatabaseHandle, TestStores } from '../../../test/support/test-stores';
import { waitFor } from '../../../test/support/wait-for';
import { BalanceRepository } from './balance-repository';
import { BalanceStore } from './balance-store';
import { newChangeToken, usageLedgerKey } from './change-token';
import { ReconcileBalancesService } from './reconcile-balances.service';

const START_MICROS = 10_000_000n;

/**
 * Drift is what a pass found and repaired, never a change that landed while it looked: the pass
 * reads Redis, then Postgres, and a change committed in between makes the two differ until its
 * compare-and-set sees it. Real Postgres and Redis; the pass is held between its two reads by a
 * table lock the test holds while it makes the changes.
 */
describe('ReconcileBalancesService: the drift it reports', () => {
  const stores = new TestStores();
  let balances: BalanceStore;
  let metrics: BillingMetrics;
  let reconciler: ReconcileBalancesService;
  let keys: RedisKeys;

  beforeAll(async () => {
    await stores.setUp();
    keys = new RedisKeys(stores.prefix);
    const database = rawDatabaseHandle(stores.sql);
    metrics = new BillingMetrics('test');
    balances = new BalanceStore(stores.redis, keys, new BalanceRepository(database), metrics);
    reconciler = new ReconcileBalancesService(database, stores.redis, keys, metrics, balances);
  });

  afterAll(() => stores.tearDown());

  async function account(): Promise<string> {
    const [{ id }] = await stores.sql<{ id: string }[]>`
      insert into accounts (name, billing_email) values ('drift', 'billing@example.com') returning id`;
    await stores.sql`
      insert into account_balances (account_id, shard, balance_micros)
      select ${id}, s, case when s = 0 then ${START_MICROS.toString()}::bigint else 0 end
      from generate_series(0, ${BALANCE_SHARDS - 1}) as s`;
    expect(await balances.balanceOf(id)).toBe(START_MICROS); // loaded into Redis
    return id;
  }

  const gauge = async (metric: { get(): Promise<{ values: { value: number }[] }> }) =>
    (await metric.get()).values[0]?.value;

  it('counts only differences its repair confirmed, and exports them with the time of the pass', async () => {
    const drifted = await account();
    const granted = await account();
    const charging = await account();
    // Redis lost a settle for this one: 1.25 USD more than Postgres, nothing pending.
    await stores.redis.hset(keys.balance(drifted), 'bal', String(START_MICROS + 1_250_000n));

    const grantKey = `grant:${randomUUID()}`;
    const grantToken = newChangeToken();
    const batchId = newUsageBatchId();
    const batchToken = newChangeToken();
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    // Both changes' commits, as their services write them: the ledger row with the token, and the balance.
    const changes = stores.sql.begin(async (tx) => {
      await tx`lock table account_balances in access exclusive mode`;
      await released;
      await tx`insert into ledger_entries (account_id, kind, amount_micros, idempotency_key, redis_token)
               values (${granted}, 'grant', 5000000, ${grantKey}, ${grantToken}),
                      (${charging}, 'usage', -300, ${usageLedgerKey(batchId, charging)}, ${batchToken})`;
      await tx`update account_balances set balance_micros = balance_micros + 5000000
               where account_id = ${granted} and shard = 0`;
      await tx`update account_balances set balance_micros = balance_micros - 300
               where account_id = ${charging} and shard = 0`;
    });
    const startedAt = Date.now() / 1000;
    const pass = reconciler.reconcileAll();
    // The pass has read Redis and waits for Postgres.
    await waitFor(
      async () => {
        const [{ waiting }] = await stores.sql<{ waiting: number }[]>`
          select count(*)::int as waiting from pg_stat_activity
          where datname = current_database() and wait_event_type = 'Lock'
            and query like '%from account_balances%'`;
        return waiting;
      },
      (waiting) => waiting === 1,
      { what: 'the pass to wait for the account_balances lock' },
    );
    // Meanwhile a grant goes through whole in Redis (reserve, then settle), and a usage batch is
    // reserved and committed, its settle still to come: Postgres sees both once the lock goes.
    await balances.reserve([
      { accountId: granted, changeKey: grantKey, appliedDelta: 0n, token: grantToken },
    ]);
    await balances.settle([
      { accountId: granted, changeKey: grantKey, committedToken: grantToken, committedDelta: 5_000_000n },
    ]);
    await balances.reserve([
      { accountId: charging, changeKey: batchId, appliedDelta: -300n, token: batchToken },
    ]);
    release();
    await changes;

    const report = await pass;
    // The two changes made Redis and Postgres differ between the pass's reads: compared again, not drift.
    expect(report).toMatchObject({ drifted: 1, driftMicros: 1_250_000n, repaired: 1, busy: 0 });
    expect(await stores.redisBalance(charging)).toBe(START_MICROS - 300n);
    expect(await stores.redisBalance(drifted)).toBe(START_MICROS);
    expect(await stores.redisBalance(granted)).toBe(START_MICROS + 5_000_000n);
    expect(await gauge(metrics.driftAccounts)).toBe(1);
    expect(await gauge(metrics.driftMicros)).toBe(1_250_000);
    const passedAt = await gauge(metrics.reconcileLastPass);
    expect(passedAt).toBeGreaterThanOrEqual(startedAt);
    expect(passedAt).toBeLessThanOrEqual(Date.now() / 1000);
  });
});
