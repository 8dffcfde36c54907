import { DatabaseHandle } from '@app/db';
import { BillingMetrics } from '@app/metrics';
import { newUsageBatchId } from '@app/queue';
import { RedisKeys } from '@app/redis';
import { randomUUID } from 'node:crypto';
import { v4 as uuidv4, v7 as uuidv7 } from 'uuid';
import { accountWithBalance, rawDatabaseHandle, TestStores } from '../../../test/support/test-stores';
import { ledgerOn } from '../../../test/support/ledger-stores';
import { waitFor } from '../../../test/support/wait-for';
import { BalanceStore } from './balance-store';
import { newChangeToken, usageLedgerKey } from './change-token';
import { UsageJobPresence } from './dead-usage-reservations';
import { ReconcileBalancesService } from './reconcile-balances.service';

const START_MICROS = 10_000_000n;
const AN_HOUR_AGO = () => uuidv7({ msecs: Date.now() - 3_600_000 });

/**
 * Accounts with changes in flight. Pending changes whose settle never ran, as a Redis failover
 * (the settle lost, the job's completion kept on another node) or an API process dying mid-grant
 * leaves them: the reconciler settles them from what Postgres committed, once no attempt reached
 * them for long enough, and leaves alone what may still be settled by its own attempt. Balances
 * of such accounts are compared too, against what their pending changes will settle to. Real
 * Postgres and Redis; a lost settle is produced by running reserve and the commit without it, a
 * Redis loss by deleting the account's keys.
 */
describe('ReconcileBalancesService: accounts with changes in flight', () => {
  const stores = new TestStores();
  let keys: RedisKeys;
  let metrics: BillingMetrics;
  let balances: BalanceStore;
  let usageJobs: UsageJobPresence;
  let reconciler: ReconcileBalancesService;

  beforeAll(async () => {
    await stores.setUp();
    // The reconciler as configured by default: orphans after 15 minutes.
    ({ keys, metrics, balances, usageJobs, reconciler } = ledgerOn(stores));
  });

  afterAll(async () => {
    await usageJobs.onApplicationShutdown();
    await stores.tearDown();
  });

  async function account(): Promise<string> {
    const id = await accountWithBalance(stores.sql, 'orphans', START_MICROS);
    expect(await balances.balanceOf(id)).toBe(START_MICROS); // loaded into Redis
    return id;
  }

  /** Postgres commits a change as the worker or the api does: its ledger row and the balance. */
  async function commit(accountId: string, ledgerKey: string, amount: bigint, token: string) {
    await stores.sql.begin(async (tx) => {
      await tx`
        insert into ledger_entries (account_id, kind, amount_micros, idempotency_key, redis_token)
        values (${accountId}, ${amount < 0n ? 'usage' : 'grant'}, ${amount.toString()}, ${ledgerKey}, ${token})`;
      await tx`
        update account_balances set balance_micros = balance_micros + ${amount.toString()}
        where account_id = ${accountId} and shard = 0`;
    });
  }

  async function reserve(accountId: string, changeKey: string, appliedDelta: bigint, token: string) {
    const [reserved] = await balances.reserve([{ accountId, changeKey, appliedDelta, token }]);
    expect(reserved.status).toBe('created');
  }

  /** A usage batch reserved `applied` under `token` and Postgres committed `committed` for it; no settle. */
  async function unsettledBatch(accountId: string, applied: bigint, committed: bigint, token: string) {
    const batchId = newUsageBatchId();
    await reserve(accountId, batchId, applied, token);
    await commit(accountId, usageLedgerKey(batchId, accountId), committed, token);
    return batchId;
  }

  async function postgresBalance(accountId: string): Promise<bigint | undefined> {
    return (await stores.postgresBalances()).get(accountId);
  }

  it('settles old orphans from what Postgres committed and leaves the rest pending', async () => {
    // 1. A usage batch committed 1,000 of the 1,500 it reserved (500 were duplicates); its settle was lost.
    const usage = await account();
    await unsettledBatch(usage, -1_500n, -1_000n, AN_HOUR_AGO());

    // 2. A late attempt of a batch already committed and settled reserved again; its settle was lost.
    const late = await account();
    const committedToken = AN_HOUR_AGO();
    const lateBatch = await unsettledBatch(late, -2_000n, -2_000n, committedToken);
    await balances.settle([
      { accountId: late, changeKey: lateBatch, committedToken, committedDelta: -2_000n },
    ]);
    await reserve(late, lateBatch, -2_000n, AN_HOUR_AGO());

    // 3. A credit grant committed, then the api process died before its settle.
    const granted = await account();
    const grantKey = `grant:${randomUUID()}`;
    const grantToken = AN_HOUR_AGO();
    await reserve(granted, grantKey, 0n, grantToken);
    await commit(granted, grantKey, 5_000_000n, grantToken);

    // 4. A credit grant that never committed: its entry moved nothing.
    const neverGranted = await account();
    await reserve(neverGranted, `grant:${randomUUID()}`, 0n, AN_HOUR_AGO());

    // 5. A usage reservation Postgres never committed: its job may still be retrying.
    const uncommitted = await account();
    await reserve(uncommitted, newUsageBatchId(), -700n, AN_HOUR_AGO());

    // 6. A change reserved just now: its own attempt is on its way to settle it.
    const young = await account();
    const youngToken = newChangeToken();
    const youngBatch = await unsettledBatch(young, -300n, -300n, youngToken);

    // 7. A token from before tokens carried their time (UUIDv4): its age is unknown.
    const untimed = await account();
    await unsettledBatch(untimed, -400n, -400n, uuidv4());

    const first = await reconciler.reconcileAll();
    expect(first).toMatchObject({ orphansSettled: 4, busy: 7, drifted: 0 });

    for (const id of [usage, late, granted, neverGranted]) {
      expect({ id, pending: await stores.pendingCount(id) }).toEqual({ id, pending: 0 });
      expect({ id, redis: await stores.redisBalance(id) }).toEqual({ id, redis: await postgresBalance(id) });
    }
    expect(await stores.redisBalance(usage)).toBe(START_MICROS - 1_000n);
    expect(await stores.redisBalance(late)).toBe(START_MICROS - 2_000n);
    expect(await stores.redisBalance(granted)).toBe(START_MICROS + 5_000_000n);
    expect(await stores.redisBalance(neverGranted)).toBe(START_MICROS);
    // Left pending, balances as their reservations left them.
    expect(await stores.pendingCount(uncommitted)).toBe(1);
    expect(await stores.redisBalance(uncommitted)).toBe(START_MICROS - 700n);
    expect(await stores.pendingCount(young)).toBe(1);
    expect(await stores.pendingCount(untimed)).toBe(1);

    // The settled accounts are compared with Postgres again: nothing left to repair or settle.
    const second = await reconciler.reconcileAll();
    expect(second).toMatchObject({ orphansSettled: 0, busy: 3, drifted: 0, repaired: 0 });

    // The young change's own settle still works, exactly once.
    await balances.settle([
      { accountId: young, changeKey: youngBatch, committedToken: youngToken, committedDelta: -300n },
    ]);
    expect(await stores.redisBalance(young)).toBe(START_MICROS - 300n);
    expect(await stores.pendingCount(young)).toBe(0);
  });

  it('settles each orphan once when two passes run at the same time (the periodic one and an on-demand one)', async () => {
    const usage = await account();
    await unsettledBatch(usage, -1_500n, -1_000n, AN_HOUR_AGO());
    const granted = await account();
    const grantKey = `grant:${randomUUID()}`;
    const grantToken = AN_HOUR_AGO();
    await reserve(granted, grantKey, 0n, grantToken);
    await commit(granted, grantKey, 5_000_000n, grantToken);

    const passes = await Promise.all([reconciler.reconcileAll(), reconciler.reconcileAll()]);

    expect(passes[0].orphansSettled + passes[1].orphansSettled).toBe(2);
    expect(await stores.redisBalance(usage)).toBe(START_MICROS - 1_000n);
    expect(await stores.redisBalance(granted)).toBe(START_MICROS + 5_000_000n);
    for (const id of [usage, granted]) {
      expect({ id, pending: await stores.pendingCount(id) }).toEqual({ id, pending: 0 });
      expect({ id, redis: await stores.redisBalance(id) }).toEqual({ id, redis: await postgresBalance(id) });
    }
  });
  /** A reconciler whose first Postgres snapshot waits for `meanwhile`: it runs after the Redis read. */
  function reconcilerInterleaving(meanwhile: () => Promise<void>): ReconcileBalancesService {
    let pending: (() => Promise<void>) | null = meanwhile;
    const sql = new Proxy(stores.sql, {
      get(target, property, receiver) {
        if (property !== 'begin') return Reflect.get(target, property, receiver);
        return async (...args: unknown[]) => {
          const run = pending;
          pending = null;
          await run?.();
          return (target.begin as (...a: unknown[]) => unknown)(...args);
        };
      },
    });
    const database: DatabaseHandle = rawDatabaseHandle(sql);
    return new ReconcileBalancesService(
      database,
      stores.redis,
      keys,
      metrics,
      balances,
      usageJobs,
      15 * 60_000,
    );
  }

  it('repairs an account that always has a batch in flight when Redis lost a deduction', async () => {
    const hot = await account();
    // Batch W deducts 1,000 in Redis; then Redis loses the account, W's pending entry with it.
    const w = newUsageBatchId();
    const wToken = newChangeToken();
    await reserve(hot, w, -1_000n, wToken);
    await stores.redis.del(keys.balance(hot), keys.pending(hot));
    // Batch Y reserves: the balance is seeded from Postgres, which does not show W yet.
    const y = newUsageBatchId();
    const yToken = newChangeToken();
    await reserve(hot, y, -300n, yToken);
    // W commits; its settle finds no entry and does nothing: W's 1,000 is free credit in Redis.
    await commit(hot, usageLedgerKey(w, hot), -1_000n, wToken);
    expect(
      await balances.settle([
        { accountId: hot, changeKey: w, committedToken: wToken, committedDelta: -1_000n },
      ]),
    ).toEqual([false]);
    expect(await stores.redisBalance(hot)).toBe(START_MICROS - 300n);

    // Y is still in flight (as some batch always is on a hot account): compared and repaired all the same.
    const report = await reconciler.reconcileAll();
    expect(report).toMatchObject({ drifted: 1, driftMicros: 1_000n, repaired: 1 });
    expect(await stores.redisBalance(hot)).toBe(START_MICROS - 1_300n);

    // Y commits 200 of its 300 (the rest were duplicates) and settles: Redis ends equal to Postgres.
    await commit(hot, usageLedgerKey(y, hot), -200n, yToken);
    await balances.settle([{ accountId: hot, changeKey: y, committedToken: yToken, committedDelta: -200n }]);
    expect(await stores.redisBalance(hot)).toBe(START_MICROS - 1_200n);
    expect(await postgresBalance(hot)).toBe(START_MICROS - 1_200n);
    expect(await reconciler.reconcileAll()).toMatchObject({ drifted: 0, repaired: 0 });
  });

  it('leaves correct balances alone whatever their changes in flight do between its reads', async () => {
    // Before the pass: a batch reserved; the same and a credit grant committed, not settled; a
    // late attempt of a settled batch reserved again. All correct in Redis.
    const reserved = await account();
    await reserve(reserved, newUsageBatchId(), -700n, newChangeToken());
    const committed = await account();
    await unsettledBatch(committed, -1_500n, -1_000n, newChangeToken());
    const grantKey = `grant:${randomUUID()}`;
    const grantToken = newChangeToken();
    await reserve(committed, grantKey, 0n, grantToken);
    await commit(committed, grantKey, 5_000_000n, grantToken);
    const late = await account();
    const lateToken = newChangeToken();
    const lateBatch = await unsettledBatch(late, -2_000n, -2_000n, lateToken);
    await balances.settle([
      { accountId: late, changeKey: lateBatch, committedToken: lateToken, committedDelta: -2_000n },
    ]);
    await reserve(late, lateBatch, -2_000n, newChangeToken());

    // Between the Redis read and the Postgres snapshot: a pending batch commits; another reserves
    // and commits (not in the Redis read); another settles.
    const committing = await account();
    const committingBatch = newUsageBatchId();
    const committingToken = newChangeToken();
    await reserve(committing, committingBatch, -400n, committingToken);
    const newcomer = await account();
    const settling = await account();
    const settlingToken = newChangeToken();
    const settlingBatch = await unsettledBatch(settling, -600n, -600n, settlingToken);
    const racing = reconcilerInterleaving(async () => {
      await commit(committing, usageLedgerKey(committingBatch, committing), -400n, committingToken);
      await unsettledBatch(newcomer, -800n, -800n, newChangeToken());
      await balances.settle([
        {
          accountId: settling,
          changeKey: settlingBatch,
          committedToken: settlingToken,
          committedDelta: -600n,
        },
      ]);
    });
    const before = new Map<string, bigint | null>();
    const ids = [reserved, committed, late, committing, newcomer, settling];
    for (const id of ids) before.set(id, await stores.redisBalance(id));

    expect(await racing.reconcileAll()).toMatchObject({ drifted: 0, repaired: 0 });
    for (const id of [reserved, committed, late, committing]) {
      expect({ id, redis: await stores.redisBalance(id) }).toEqual({ id, redis: before.get(id) });
    }
    expect(await stores.redisBalance(newcomer)).toBe(START_MICROS - 800n);
    expect(await stores.redisBalance(settling)).toBe(START_MICROS - 600n);
  });

  it('never settles as an orphan a change that a live attempt reached lately', async () => {
    // A job's first attempt reserved an hour ago; it kept failing (Postgres down) and retrying.
    const id = await account();
    const batchId = newUsageBatchId();
    const firstToken = AN_HOUR_AGO();
    await reserve(id, batchId, -500n, firstToken);
    // This attempt finds the entry, reuses its token, commits; the pass runs before its settle.
    const [retry] = await balances.reserve([
      { accountId: id, changeKey: batchId, appliedDelta: -500n, token: newChangeToken() },
    ]);
    expect(retry).toMatchObject({ status: 'exists', token: firstToken });
    await commit(id, usageLedgerKey(batchId, id), -500n, firstToken);

    expect(await reconciler.reconcileAll()).toMatchObject({ drifted: 0, repaired: 0 });
    expect(await stores.redis.hexists(keys.pending(id), batchId)).toBe(1);

    // The attempt's own settle finds its entry, so the API key's spend counter counts the batch.
    const counter = keys.keySpend(id, 'key-1', 'd:2026-12-01');
    await stores.redis.set(counter, '0');
    const settled = await balances.settle([
      {
        accountId: id,
        changeKey: batchId,
        committedToken: firstToken,
        committedDelta: -500n,
        keySpend: [{ counterKey: counter, micros: 500n }],
      },
    ]);
    expect(settled).toEqual([true]);
    expect(await stores.redis.get(counter)).toBe('500');
    expect(await stores.pendingCount(id)).toBe(0);
    expect(await stores.redisBalance(id)).toBe(START_MICROS - 500n);
  });

  // Drift is what a pass found and repaired, never a change that landed while it looked: the pass
  // reads Redis, then Postgres, and a change committed in between makes the two differ until its
  // compare-and-set sees it. The pass is held between its two reads by a table lock the test holds
  // while it makes the changes.
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
    let lockHeld!: () => void;
    const locked = new Promise<void>((resolve) => (lockHeld = resolve));
    // Both changes' commits, as their services write them: the ledger row with the token, and the balance.
    const changes = stores.sql.begin(async (tx) => {
      await tx`lock table account_balances in access exclusive mode`;
      lockHeld();
      await released;
      await tx`insert into ledger_entries (account_id, kind, amount_micros, idempotency_key, redis_token)
               values (${granted}, 'grant', 5000000, ${grantKey}, ${grantToken}),
                      (${charging}, 'usage', -300, ${usageLedgerKey(batchId, charging)}, ${batchToken})`;
      await tx`update account_balances set balance_micros = balance_micros + 5000000
               where account_id = ${granted} and shard = 0`;
      await tx`update account_balances set balance_micros = balance_micros - 300
               where account_id = ${charging} and shard = 0`;
    });
    // Started before the lock is held, the pass could read Postgres first and never wait.
    await locked;
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
    // The two changes made Redis and Postgres differ between the pass's reads: compared again, not
    // drift. (Accounts of the tests above still hold pending changes: `busy` counts those.)
    expect(report).toMatchObject({ drifted: 1, driftMicros: 1_250_000n, repaired: 1 });
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
