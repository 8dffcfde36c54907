import { BALANCE_SHARDS } from '@app/db';
import { BillingMetrics } from '@app/metrics';
import { newUsageBatchId } from '@app/queue';
import { RedisKeys } from '@app/redis';
import { randomUUID } from 'node:crypto';
import { v4 as uuidv4, v7 as uuidv7 } from 'uuid';
import { rawDatabaseHandle, TestStores } from '../../../test/support/test-stores';
import { BalanceRepository } from './balance-repository';
import { BalanceStore } from './balance-store';
import { newChangeToken, usageLedgerKey } from './change-token';
import { ReconcileBalancesService } from './reconcile-balances.service';

const START_MICROS = 10_000_000n;
const AN_HOUR_AGO = () => uuidv7({ msecs: Date.now() - 3_600_000 });

/**
 * Pending changes whose settle never ran, as a Redis failover (the settle lost, the job's
 * completion kept on another node) or an API process dying mid-grant leaves them: the reconciler
 * settles them from what Postgres committed, once no attempt reached them for long enough, and
 * leaves alone what may still be settled by its own attempt. Real Postgres and Redis; the lost
 * settle is produced by running reserve and the commit without it.
 */
describe('ReconcileBalancesService: pending changes whose settle never ran', () => {
  const stores = new TestStores();
  let keys: RedisKeys;
  let balances: BalanceStore;
  let reconciler: ReconcileBalancesService;

  beforeAll(async () => {
    await stores.setUp();
    keys = new RedisKeys(stores.prefix);
    const database = rawDatabaseHandle(stores.sql);
    const metrics = new BillingMetrics('test');
    balances = new BalanceStore(stores.redis, keys, new BalanceRepository(database), metrics);
    reconciler = new ReconcileBalancesService(database, stores.redis, keys, metrics, balances, 15 * 60_000);
  });

  afterAll(() => stores.tearDown());

  async function account(): Promise<string> {
    const [{ id }] = await stores.sql<{ id: string }[]>`
      insert into accounts (name, billing_email) values ('orphans', 'billing@example.com') returning id`;
    await stores.sql`
      insert into account_balances (account_id, shard, balance_micros)
      select ${id}, s, case when s = 0 then ${START_MICROS.toString()}::bigint else 0 end
      from generate_series(0, ${BALANCE_SHARDS - 1}) as s`;
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
});
