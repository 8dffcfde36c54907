import { baseEnvSchema, loadConfig } from '@app/config';
import { columnsOfUsageBatch, MeterUsageBatchPayload, QueueName } from '@app/queue';
import { openRedis, RedisKeys } from '@app/redis';
import { Logger } from '@nestjs/common';
import { Job, Queue } from 'bullmq';
import { parseArgs } from 'node:util';
import { cliLogger } from './cli-logger';

const PAGE_SIZE = 100;

const USAGE = `npm run failed-jobs [-- --queue <name>] [-- --retry]
  Prints the jobs a queue gave up on (one JSON line each, with the reason), then a summary line.
  --queue   ${Object.values(QueueName).join(', ')} (default ${QueueName.Usage})
  --retry   puts every failed job of the queue back in line, after the cause is fixed`;

/**
 * `npm run failed-jobs`: what alert BillingUsageJobsFailed asks ops to look at. A failed usage
 * batch is usage accepted at ingest and not charged; once its cause is fixed, `--retry` queues
 * it again, and replaying a batch never charges twice (its ledger rows are keyed by batch).
 */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      queue: { type: 'string', default: QueueName.Usage },
      retry: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return console.log(USAGE);
  const queueName = values.queue as QueueName;
  if (!Object.values(QueueName).includes(queueName))
    throw new Error(`unknown queue "${values.queue}"\n${USAGE}`);

  const config = loadConfig(baseEnvSchema);
  // Warnings (a lost Redis connection) on stderr: stdout is the JSON lines.
  Logger.overrideLogger(cliLogger());
  // Fails fast (openRedis, not a worker's blocking connection, and a few reconnects only): with
  // Redis down, ops get its error and exit 1 instead of a command that waits for ever.
  const connection = openRedis(config, {
    enableAutoPipelining: false,
    retryStrategy: (attempt) => (attempt > 3 ? null : 200 * attempt),
  });
  const queue = new Queue(queueName, { connection, prefix: new RedisKeys(config.REDIS_PREFIX).bullPrefix() });
  // Each reconnect's error would print its stack; the command's own failure says it once.
  queue.on('error', () => undefined);
  try {
    // A page at a time (a usage batch carries up to 1,000 events), all listed before any retry: a
    // retried job that fails again at once must not come round a second time.
    const ids: string[] = [];
    for (let start = 0; ; start += PAGE_SIZE) {
      const page = await queue.getFailed(start, start + PAGE_SIZE - 1);
      if (page.length === 0) break;
      for (const job of page) {
        console.log(JSON.stringify(summaryOf(queueName, job)));
        ids.push(job.id!);
      }
    }
    let retried = 0;
    if (values.retry) {
      for (const id of ids) {
        const job = await Job.fromId(queue, id);
        if (job && (await job.isFailed())) {
          await job.retry('failed');
          retried++;
        }
      }
    }
    console.log(JSON.stringify({ queue: queueName, failed: ids.length, retried }));
  } finally {
    await queue.close();
    connection.disconnect();
  }
}

function summaryOf(queueName: QueueName, job: Job) {
  const columns = columnsOfUsageBatch(job.data as MeterUsageBatchPayload | undefined);
  return {
    queue: queueName,
    id: job.id,
    name: job.name,
    failed_reason: job.failedReason,
    attempts_made: job.attemptsMade,
    failed_at: job.finishedOn ? new Date(job.finishedOn).toISOString() : null,
    // A usage batch: how much accepted usage waits on it.
    ...(columns ? { events: columns.id.length } : {}),
  };
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
