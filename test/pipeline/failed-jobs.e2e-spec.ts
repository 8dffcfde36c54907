import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseUsd } from '@app/money';
import { JobName, MeterUsageBatchPayload, newUsageBatchId, QUEUE_SETTINGS, QueueName } from '@app/queue';
import { Queue } from 'bullmq';
import { freePort } from '../support/app-process';
import { BillingStack } from '../support/billing-stack';
import { waitFor } from '../support/wait-for';

const run = promisify(execFile);
const CLI = join(__dirname, '..', '..', 'dist', 'apps', 'usage-worker', 'src', 'failed-jobs.main.js');
/** $2 per million prompt tokens: the batch's 1,500 tokens cost $0.003. */
const MODEL = 'test/priced-late';

/**
 * `npm run failed-jobs`, the tool alert BillingUsageJobsFailed points ops to: it shows a usage
 * batch the worker gave up on and why, and once the cause is fixed `--retry` charges it, once.
 */
describe('npm run failed-jobs', () => {
  const stack = new BillingStack({ workers: 1 });
  let queue: Queue;

  beforeAll(async () => {
    await stack.start();
    queue = new Queue(QueueName.Usage, { connection: stack.stores.redis, prefix: stack.stores.bullPrefix });
  }, 120_000);

  afterAll(async () => {
    await queue.close();
    await stack.stop();
  });

  /** The CLI's JSON lines, run as ops would, against the stack's Redis (or `env`'s). */
  async function failedJobs(...args: string[]): Promise<Record<string, unknown>[]> {
    return failedJobsWith({}, ...args);
  }

  async function failedJobsWith(env: Record<string, string>, ...args: string[]) {
    const { stdout } = await run(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH ?? '', ...stack.appEnv, ...env },
    });
    return stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
  }

  it('lists a usage batch that failed, with its reason, and charges it once when retried after the fix', async () => {
    const accountId = await stack.createAccount();
    await stack.grant(accountId, '10');
    // A batch whose model had no price when the worker took it (put in the queue as ingest would;
    // ingest itself refuses such events). One attempt, so it fails at once instead of in days.
    const batch: MeterUsageBatchPayload = {
      batchId: newUsageBatchId(),
      receivedAt: Date.now(),
      events: [1, 2].map((n) => ({
        id: `evt-${n}`,
        account_id: accountId,
        model: MODEL,
        prompt_tokens: 750,
        completion_tokens: 0,
        cached_tokens: 0,
        reasoning_tokens: 0,
        occurred_at: Date.now() - 60_000,
      })),
    };
    await queue.add(JobName.MeterUsageBatch, batch, {
      ...QUEUE_SETTINGS[QueueName.Usage].jobOptions,
      jobId: batch.batchId,
      attempts: 1,
    });
    await waitFor(
      () => queue.getFailedCount(),
      (count) => count === 1,
      { what: 'the batch to fail' },
    );

    expect(await failedJobs()).toEqual([
      {
        queue: QueueName.Usage,
        id: batch.batchId,
        name: JobName.MeterUsageBatch,
        failed_reason: expect.stringContaining(`no price for model ${MODEL}`),
        attempts_made: 1,
        failed_at: expect.any(String),
        events: 2,
      },
      { queue: QueueName.Usage, failed: 1, retried: 0 },
    ]);
    const balance = async () =>
      parseUsd((await stack.gateway.get(`/v1/accounts/${accountId}/balance`)).body.balance);
    expect(await balance()).toBe(10_000_000n);

    // The fix: the model's price, in effect from before the events occurred.
    await stack.setPrice(MODEL, '2', '0');
    expect((await failedJobs('--retry')).at(-1)).toEqual({ queue: QueueName.Usage, failed: 1, retried: 1 });
    await stack.drained();

    expect(await balance()).toBe(10_000_000n - 3_000n);
    const [{ events }] = await stack.stores.sql<{ events: number }[]>`
      select count(*)::int as events from usage_events where batch_id = ${batch.batchId}`;
    expect(events).toBe(2);
    expect(await failedJobs()).toEqual([{ queue: QueueName.Usage, failed: 0, retried: 0 }]);
  });

  it('exits 1 with the connection error, said once, when Redis is unreachable', async () => {
    const closedPort = await freePort();
    const failure = await failedJobsWith({ REDIS_URL: `redis://127.0.0.1:${closedPort}` }).then(
      () => null,
      (error: { code: number; stdout: string; stderr: string }) => error,
    );
    expect(failure).toMatchObject({ code: 1, stdout: '' });
    // A warning when the connection fails (not one per reconnect), then the error it exits with.
    expect(failure!.stderr.trim().split('\n')).toEqual([
      expect.stringContaining(
        `connection failed, reconnecting: connect ECONNREFUSED 127.0.0.1:${closedPort}`,
      ),
      `connect ECONNREFUSED 127.0.0.1:${closedPort}`,
    ]);
  });

  it('refuses an unknown queue with the usage text', async () => {
    await expect(failedJobs('--queue', 'no-such-queue')).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('unknown queue "no-such-queue"'),
    });
  });
});
