import { QueueName } from '@app/queue';
import { Queue } from 'bullmq';
import { BillingStack } from './billing-stack';
import { waitFor } from './wait-for';

/** A handle on one of the stack's BullMQ queues (its Redis and prefix), for the test to close. */
export function openStackQueue(stack: BillingStack, name: QueueName): Queue {
  const url = new URL(stack.stores.redisUrl);
  return new Queue(name, {
    connection: { host: url.hostname, port: Number(url.port || 6379) },
    prefix: stack.stores.bullPrefix,
  });
}

/** Jobs of `queue` not finished yet: waiting, active, delayed or prioritized. */
export async function outstandingJobs(queue: Queue): Promise<number> {
  const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
  return Object.values(counts).reduce((sum, n) => sum + n, 0);
}

/** Every usage batch processed and every auto-reload job it added (on `payments`) finished. */
export async function usageAndReloadsSettled(stack: BillingStack, payments: Queue): Promise<void> {
  await stack.drained();
  await waitFor(
    () => outstandingJobs(payments),
    (n) => n === 0,
    { what: 'the payments queue to drain' },
  );
}

/** Redis = Postgres = the ledger for every account, with no change still pending in Redis. */
export async function expectEveryBalanceAgrees(stack: BillingStack): Promise<void> {
  const postgres = await stack.stores.postgresBalances();
  const ledger = await stack.stores.ledgerSums();
  for (const [accountId, balance] of postgres) {
    expect({ accountId, ledger: ledger.get(accountId) ?? 0n }).toEqual({ accountId, ledger: balance });
    const redis = await stack.stores.redisBalance(accountId);
    if (redis !== null) expect({ accountId, redis }).toEqual({ accountId, redis: balance });
    expect(await stack.stores.pendingCount(accountId)).toBe(0);
  }
}
