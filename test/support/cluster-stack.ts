import { BillingStack } from './billing-stack';
import { OwnRedisCluster } from './redis-server';

/**
 * Registers a suite's own Redis Cluster and a stack of two workers on it (the apps on
 * REDIS_CLUSTER=true), with `model` at $1.00 per million tokens of every kind (an event costs one
 * micro per token); both stop after the suite. Read `stack` inside the tests.
 */
export function useClusterStack(cluster: OwnRedisCluster, model: string): { readonly stack: BillingStack } {
  const suite = {} as { stack: BillingStack };
  beforeAll(async () => {
    await cluster.start();
    suite.stack = new BillingStack({ workers: 2, redisUrl: cluster.url, redisCluster: true });
    await suite.stack.start();
    await suite.stack.setPrice(model, '1.00', '1.00');
  });
  afterAll(async () => {
    await suite.stack?.stop();
    await cluster.kill();
  });
  return suite;
}
