import { BillingMetrics } from '@app/metrics';
import { JobName, newUsageBatchId, QueueName } from '@app/queue';
import { openBullRedis, RedisClient, RedisKeys } from '@app/redis';
import { Queue, Worker } from 'bullmq';
import { v7 as uuidv7 } from 'uuid';
import { accountWithBalance, rawDatabaseHandle, TestStores } from '../../../test/support/test-stores';
import { ledgerOn } from '../../../test/support/ledger-stores';
import { BalanceStore } from './balance-store';
import { usageLedgerKey } from './change-token';
import { DEAD_USAGE_RESERVATION_AFTER_MS, UsageJobPresence } from './dead-usage-reservations';
import { ReconcileBalancesService } from './reconcile-balances.service';

const START_MICROS = 10_000_000n;
/** A token whose attempt started an hour before the reconciler may take its entry for dead. */
const PAST_DEAD_AGE = () => uuidv7({ msecs: Date.now() - DEAD_USAGE_RESERVATION_AFTER_MS - 3_600_000 });
/** A token from well after failed jobs are removed, but before a group record may have expired. */
const EIGHT_DAYS_AGO = () => uuidv7({ msecs: Date.now() - 8 * 24 * 3_600_000 });

/**
 * Usage reservations whose batch never commits and can never be charged again: the batch failed
 * for good and BullMQ removed its failed job, or the batches of a group were retried alone after
 * the group's record expired. The reconciler undoes them, so gateways no longer see a balance
 * lower than Postgres's, and leaves alone every reservation that some job may still commit. Real
 * Postgres, Redis and BullMQ queue; the entries' age is set through their token's time.
 */
describe('ReconcileBalancesService: usage reservations no job can commit', () => {
  const stores = new TestStores();
  let keys: RedisKeys;
  let metrics: BillingMetrics;
  let balances: BalanceStore;
  let usageJobs: UsageJobPresence;
  let queue: Queue;
  let sut: ReconcileBalancesService;

  beforeAll(async () => {
    await stores.setUp();
    ({ keys, metrics, balances, usageJobs, reconciler: sut } = ledgerOn(stores));
    queue = new Queue(QueueName.Usage, { connection: stores.redis, prefix: stores.bullPrefix });
  });

  afterAll(async () => {
    await usageJobs.onApplicationShutdown();
    await queue.close();
    await stores.tearDown();
  });

  async function account(): Promise<string> {
    const id = await accountWithBalance(stores.sql, 'dead', START_MICROS);
    expect(await balances.balanceOf(id)).toBe(START_MICROS); // loaded into Redis
    return id;
  }

  /** A usage batch as ingest queues it: its job id is the batch id. */
  async function queueBatch(options: { delay?: number } = {}): Promise<string> {
    const batchId = newUsageBatchId();
    await queue.add(
      JobName.MeterUsageBatch,
      { batchId, receivedAt: Date.now(), events: [] },
      { jobId: batchId, attempts: 1, ...options },
    );
    return batchId;
  }

  /** The worker's deduction for a batch (or group), whose commit never comes. */
  async function reserve(accountId: string, changeKey: string, appliedDelta: bigint, token: string) {
    const [reserved] = await balances.reserve([{ accountId, changeKey, appliedDelta, token }]);
    expect(reserved.status).toBe('created');
  }

  /** Takes the queue's next job and fails it for good, as a worker whose attempts ran out does. */
  async function failNextJob(): Promise<void> {
    const connection: RedisClient = openBullRedis({ REDIS_URL: stores.redisUrl, REDIS_CLUSTER: false });
    const worker = new Worker(QueueName.Usage, null, {
      connection,
      prefix: stores.bullPrefix,
      autorun: false,
    });
    try {
      const job = await worker.getNextJob('test-lock');
      expect(job).toBeDefined();
      await job!.moveToFailed(new Error('gave up'), 'test-lock');
      expect(await job!.isFailed()).toBe(true);
    } finally {
      await worker.close();
      connection.disconnect();
    }
  }

  async function expectRedisEqualsPostgres(accountId: string, balance: bigint): Promise<void> {
    expect(await stores.pendingCount(accountId)).toBe(0);
    expect(await stores.redisBalance(accountId)).toBe(balance);
    expect((await stores.postgresBalances()).get(accountId)).toBe(balance);
  }

  it('undoes the reservation of a batch that failed for good once its failed job is removed', async () => {
    const id = await account();
    const batchId = await queueBatch();
    await reserve(id, batchId, -700n, PAST_DEAD_AGE());
    await failNextJob();
    // Kept while the failed job exists: `npm run failed-jobs -- --retry` can still charge it.
    expect(await sut.reconcileAll()).toMatchObject({ reservationsDropped: 0, drifted: 0 });
    expect(await stores.redisBalance(id)).toBe(START_MICROS - 700n);

    // BullMQ removes the failed job after USAGE_FAILED_JOB_KEPT_SECONDS.
    await (await queue.getJob(batchId))!.remove();
    const before = (await metrics.reconcileOrphansDropped.get()).values[0]?.value ?? 0;

    expect(await sut.reconcileAll()).toMatchObject({ reservationsDropped: 1, orphansSettled: 0 });
    await expectRedisEqualsPostgres(id, START_MICROS);
    expect((await metrics.reconcileOrphansDropped.get()).values[0]?.value).toBe(before + 1);
    expect(await sut.reconcileAll()).toMatchObject({ reservationsDropped: 0, drifted: 0 });
  });

  it('undoes the reservation of a group whose batches were charged alone after its record expired', async () => {
    // A group id is never a job id; its batches, retried alone, committed under their own ids.
    const id = await account();
    await reserve(id, newUsageBatchId(), -1_200n, PAST_DEAD_AGE());

    expect(await sut.reconcileAll()).toMatchObject({ reservationsDropped: 1 });
    await expectRedisEqualsPostgres(id, START_MICROS);
  });

  it('leaves alone an old reservation whose job still exists, delayed or failed', async () => {
    const delayed = await account();
    const delayedBatch = await queueBatch({ delay: 24 * 3_600_000 });
    await reserve(delayed, delayedBatch, -300n, PAST_DEAD_AGE());
    const failed = await account();
    const failedBatch = await queueBatch();
    await reserve(failed, failedBatch, -400n, PAST_DEAD_AGE());
    await failNextJob();

    expect(await sut.reconcileAll()).toMatchObject({ reservationsDropped: 0 });
    expect(await stores.redis.hexists(keys.pending(delayed), delayedBatch)).toBe(1);
    expect(await stores.redisBalance(delayed)).toBe(START_MICROS - 300n);
    expect(await stores.redis.hexists(keys.pending(failed), failedBatch)).toBe(1);
    expect(await stores.redisBalance(failed)).toBe(START_MICROS - 400n);
  });

  it('leaves alone a jobless reservation younger than a group record may live', async () => {
    // Past the failed-job retention, but it may be a group whose record still names live batches.
    const id = await account();
    const groupId = newUsageBatchId();
    await reserve(id, groupId, -500n, EIGHT_DAYS_AGO());

    expect(await sut.reconcileAll()).toMatchObject({ reservationsDropped: 0 });
    expect(await stores.redis.hexists(keys.pending(id), groupId)).toBe(1);
    expect(await stores.redisBalance(id)).toBe(START_MICROS - 500n);
  });

  /** Postgres commits the batch's charge, as its job's last attempt does before the job completes. */
  async function commit(accountId: string, batchId: string, amount: bigint, token: string) {
    await stores.sql.begin(async (tx) => {
      await tx`
        insert into ledger_entries (account_id, kind, amount_micros, idempotency_key, redis_token)
        values (${accountId}, 'usage', ${amount.toString()}, ${usageLedgerKey(batchId, accountId)}, ${token})`;
      await tx`
        update account_balances set balance_micros = balance_micros + ${amount.toString()}
        where account_id = ${accountId} and shard = 0`;
    });
  }

  it('leaves a committed batch to the ordinary orphan settle, never undoing its charge', async () => {
    const id = await account();
    const batchId = newUsageBatchId();
    const token = PAST_DEAD_AGE();
    await reserve(id, batchId, -900n, token);
    await commit(id, batchId, -900n, token);

    expect(await sut.reconcileAll()).toMatchObject({ reservationsDropped: 0, orphansSettled: 1 });
    await expectRedisEqualsPostgres(id, START_MICROS - 900n);
  });

  it('never undoes a reservation whose batch committed and whose job completed while the pass looked', async () => {
    const id = await account();
    const batchId = await queueBatch();
    const token = PAST_DEAD_AGE();
    await reserve(id, batchId, -600n, token);
    // After the pass read Postgres, the job's attempt commits (its settle is lost) and the job
    // completes, so BullMQ removes it before the pass looks it up.
    class CompletingMeanwhile extends UsageJobPresence {
      override async withJobs(batchIds: readonly string[]): Promise<Set<string>> {
        await commit(id, batchId, -600n, token);
        await queue.remove(batchId);
        return super.withJobs(batchIds);
      }
    }
    const racing = new CompletingMeanwhile(stores.redis, keys);
    const database = rawDatabaseHandle(stores.sql);
    const pass = new ReconcileBalancesService(database, stores.redis, keys, metrics, balances, racing);
    try {
      expect(await pass.reconcileAll()).toMatchObject({ reservationsDropped: 0 });
      expect(await stores.redisBalance(id)).toBe(START_MICROS - 600n);
      // The next pass sees the commit and settles the entry to it.
      expect(await sut.reconcileAll()).toMatchObject({ reservationsDropped: 0, orphansSettled: 1 });
      await expectRedisEqualsPostgres(id, START_MICROS - 600n);
    } finally {
      await racing.onApplicationShutdown();
    }
  });
});
