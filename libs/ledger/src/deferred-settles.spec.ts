import { BillingMetrics } from '@app/metrics';
import { newUsageBatchId } from '@app/queue';
import { RedisKeys } from '@app/redis';
import Redis from 'ioredis';
import { refusedRedisUrl } from '../../../test/support/redis-server';
import { TcpProxy } from '../../../test/support/tcp-proxy';
import {
  accountWithBalance,
  rawDatabaseHandle,
  REDIS_URL,
  TestStores,
} from '../../../test/support/test-stores';
import { ledgerOn } from '../../../test/support/ledger-stores';
import { BalanceRepository } from './balance-repository';
import { BalanceStore, ReservedChange, Settlement } from './balance-store';
import { newChangeToken, usageLedgerKey } from './change-token';
import { UsageJobPresence } from './dead-usage-reservations';
import { DeferredSettles, settleOnlyRemovesEntry } from './deferred-settles';
import { ReconcileBalancesService } from './reconcile-balances.service';

const START_MICROS = 10_000_000n;

/**
 * Settles held back under load (DeferredSettles, clear-settled.lua): a usage change committed
 * exactly as reserved keeps its pending entry until a flush removes it, one call per account.
 * Real Postgres and Redis; a committed change is reserved in Redis and written to Postgres as the
 * worker does, without its settle.
 */
describe('DeferredSettles', () => {
  const stores = new TestStores();
  let keys: RedisKeys;
  let balances: BalanceStore;
  let usageJobs: UsageJobPresence;
  let reconciler: ReconcileBalancesService;
  let metrics: BillingMetrics;

  beforeAll(async () => {
    await stores.setUp();
    ({ keys, metrics, balances, usageJobs, reconciler } = ledgerOn(stores));
  });

  afterAll(async () => {
    await usageJobs.onApplicationShutdown();
    await stores.tearDown();
  });

  async function account(): Promise<string> {
    const id = await accountWithBalance(stores.sql, 'held', START_MICROS);
    return id;
  }

  /** A usage batch reserved in Redis and committed to Postgres as reserved, not yet settled. */
  async function committedUnsettled(accountId: string, debit: bigint) {
    const changeKey = newUsageBatchId();
    const [reserved] = await balances.reserve([
      { accountId, changeKey, appliedDelta: -debit, token: newChangeToken() },
    ]);
    await stores.sql.begin(async (tx) => {
      await tx`
        insert into ledger_entries (account_id, kind, amount_micros, idempotency_key, redis_token)
        values (${accountId}, 'usage', ${(-debit).toString()}, ${usageLedgerKey(changeKey, accountId)}, ${reserved.token})`;
      await tx`
        update account_balances set balance_micros = balance_micros - ${debit.toString()}
        where account_id = ${accountId} and shard = 0`;
    });
    return { accountId, changeKey, appliedDelta: -debit, token: reserved.token };
  }

  it('holds entries until a flush removes them, one call per account, the balances untouched', async () => {
    const [a, b] = [await account(), await account()];
    const held = new DeferredSettles(balances);
    const entries = [
      await committedUnsettled(a, 100n),
      await committedUnsettled(a, 250n),
      await committedUnsettled(b, 7n),
    ];
    held.hold(entries);

    expect(held.size).toBe(3);
    expect(await stores.pendingCount(a)).toBe(2);
    // Held entries are nothing to the reconciler: Redis already equals Postgres.
    const report = await reconciler.reconcileAll();
    expect(report.drifted).toBe(0);
    expect(report.orphansSettled).toBe(0);

    await held.flush();
    expect(held.size).toBe(0);
    expect(await stores.pendingCount(a)).toBe(0);
    expect(await stores.pendingCount(b)).toBe(0);
    expect(await stores.redisBalance(a)).toBe(START_MICROS - 350n);
    expect(await stores.redisBalance(b)).toBe(START_MICROS - 7n);
    expect((await reconciler.reconcileAll()).drifted).toBe(0);
    await held.beforeApplicationShutdown();
  });

  it('leaves an entry that a later attempt reserved again, after Redis lost the first', async () => {
    const id = await account();
    const first = await committedUnsettled(id, 100n);
    await stores.redis.hdel(keys.pending(id), first.changeKey);
    const [again] = await balances.reserve([
      { accountId: id, changeKey: first.changeKey, appliedDelta: -100n, token: newChangeToken() },
    ]);
    expect(again.status).toBe('created');

    expect(await balances.clearSettled([first])).toBe(0);
    expect(await stores.redis.hget(keys.pending(id), first.changeKey)).toBe(`-100:${again.token}`);
    // Its own settle undoes it: Postgres counted the first attempt.
    await balances.settle([
      { accountId: id, changeKey: first.changeKey, committedToken: first.token, committedDelta: -100n },
    ]);
    expect(await stores.redisBalance(id)).toBe(START_MICROS - 100n);
    expect(await stores.pendingCount(id)).toBe(0);
  });

  it('moves gen like a settle, so a repair computed before the removal is skipped', async () => {
    const id = await account();
    const entry = await committedUnsettled(id, 100n);
    const gen = await stores.redis.hget(keys.balance(id), 'gen');
    expect(await balances.clearSettled([entry, entry])).toBe(1);
    expect(await stores.redis.hget(keys.balance(id), 'gen')).not.toBe(gen);
    expect(await balances.clearSettled([entry])).toBe(0); // gone: harmless again
  });

  it('keeps the entries when Redis cannot be reached, and removes them on a later flush', async () => {
    const id = await account();
    const entry = await committedUnsettled(id, 100n);
    const unreachable = new Redis(await refusedRedisUrl(), { maxRetriesPerRequest: 0, lazyConnect: true });
    unreachable.on('error', () => undefined);
    const heldOffline = new DeferredSettles(
      new BalanceStore(
        unreachable,
        keys,
        new BalanceRepository(rawDatabaseHandle(stores.sql)),
        new BillingMetrics('t'),
      ),
    );
    heldOffline.hold([entry]);
    await heldOffline.flush(); // never throws
    expect(heldOffline.size).toBe(1);
    expect(await stores.pendingCount(id)).toBe(1);
    await heldOffline.beforeApplicationShutdown();
    unreachable.disconnect();

    const held = new DeferredSettles(balances);
    held.hold([entry]);
    await held.flush();
    expect(await stores.pendingCount(id)).toBe(0);
  });

  it('finishes the flushes asked before it, so one that failed is retried by the next', async () => {
    const id = await account();
    const [first, second] = [await committedUnsettled(id, 100n), await committedUnsettled(id, 5n)];
    const upstream = new URL(REDIS_URL);
    const proxy = await new TcpProxy(upstream.hostname, Number(upstream.port || 6379)).up();
    const redis = new Redis(proxy.via(REDIS_URL), { maxRetriesPerRequest: 0, retryStrategy: () => 50 });
    redis.on('error', () => undefined);
    await redis.ping();
    const held = new DeferredSettles(
      new BalanceStore(redis, keys, new BalanceRepository(rawDatabaseHandle(stores.sql)), metrics),
    );
    try {
      held.hold([first]);
      await proxy.down();
      const failing = held.flush(); // Redis away: held again
      let heldAfterFailure = 0;
      void failing.then(() => (heldAfterFailure = held.size));
      await proxy.up();
      held.hold([second]);
      await held.flush(); // runs after the failed one, and takes its entry too

      expect(heldAfterFailure).toBe(2);
      expect(held.size).toBe(0);
      expect(await stores.pendingCount(id)).toBe(0);
    } finally {
      await held.beforeApplicationShutdown();
      redis.disconnect();
      await proxy.down();
    }
  });

  describe('settleOnlyRemovesEntry', () => {
    const reserved: ReservedChange = {
      accountId: 'a',
      token: 't1',
      status: 'created',
      balanceBefore: 1000n,
      balanceAfter: 900n,
      crossing: null,
      alertRecord: '',
    };
    const settlement: Settlement = {
      accountId: 'a',
      changeKey: 'batch',
      committedToken: 't1',
      committedDelta: -100n,
      keySpend: [],
      counterSpend: [],
    };

    it('holds only a change committed as this attempt reserved it, with nothing else to settle', () => {
      expect(settleOnlyRemovesEntry(reserved, -100n, settlement)).toBe(true);
      expect(settleOnlyRemovesEntry({ ...reserved, status: 'exists' }, -100n, settlement)).toBe(false);
      expect(settleOnlyRemovesEntry({ ...reserved, alertRecord: 'disarm' }, -100n, settlement)).toBe(false);
      expect(settleOnlyRemovesEntry(reserved, -100n, { ...settlement, committedToken: 't2' })).toBe(false);
      expect(settleOnlyRemovesEntry(reserved, -100n, { ...settlement, committedDelta: -60n })).toBe(false);
      expect(
        settleOnlyRemovesEntry(reserved, -100n, {
          ...settlement,
          keySpend: [{ counterKey: 'k', micros: 1n }],
        }),
      ).toBe(false);
      expect(
        settleOnlyRemovesEntry(reserved, -100n, {
          ...settlement,
          counterSpend: [{ field: 's:a', micros: 1n }],
        }),
      ).toBe(false);
    });
  });
});
