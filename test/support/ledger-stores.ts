import { BillingMetrics } from '@app/metrics';
import { BalanceRepository, BalanceStore, ReconcileBalancesService, UsageJobPresence } from '@app/ledger';
import { RedisKeys } from '@app/redis';
import { rawDatabaseHandle, TestStores } from './test-stores';

/** The ledger's Redis balances and reconciler on a TestStores' Postgres and Redis, wired as the apps wire them. */
export function ledgerOn(stores: TestStores) {
  const keys = new RedisKeys(stores.prefix);
  const database = rawDatabaseHandle(stores.sql);
  const metrics = new BillingMetrics('test');
  const balances = new BalanceStore(stores.redis, keys, new BalanceRepository(database), metrics);
  const usageJobs = new UsageJobPresence(stores.redis, keys);
  const reconciler = new ReconcileBalancesService(database, stores.redis, keys, metrics, balances, usageJobs);
  return { keys, database, metrics, balances, usageJobs, reconciler };
}
