import { BillingMetrics } from '@app/metrics';
import {
  JobName,
  logQueueErrors,
  MeterUsageBatchPayload,
  newUsageBatchId,
  QUEUE_SETTINGS,
  QueueName,
  UsageEventPayload,
} from '@app/queue';
import { acceptedEventGroup, REDIS, RedisClient, RedisKeys, sendEach } from '@app/redis';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InjectQueue } from '@nestjs/bullmq';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { Queue } from 'bullmq';
import { Result } from 'ioredis';
import { firstOfEach } from './first-of-each';
import { ValidateUsageBatch } from './validate-usage-batch';

export interface IngestResult {
  accepted: number;
  duplicates: number;
}

export class QueueFullError extends Error {
  constructor(readonly retryAfterSeconds: number) {
    super('usage queue is over its limit; retry later');
  }
}

export interface IngestOptions {
  maxQueuedJobs: number;
  dedupeWindowSeconds: number;
}

export const INGEST_OPTIONS = Symbol('INGEST_OPTIONS');

declare module 'ioredis' {
  interface RedisCommander<Context> {
    markAccepted(numberOfKeys: number, ...keysThenSeconds: (string | number)[]): Result<number, Context>;
  }
}

/**
 * Accepts a gateway's usage batch: validate all or nothing, drop ids already accepted, enqueue
 * the rest as one job, then remember their ids. Marking after enqueueing means a crash in
 * between makes a retry enqueue again (deduplicated downstream by Postgres), never lose events.
 */
@Injectable()
export class IngestUsageService {
  private readonly logger = new Logger(IngestUsageService.name);

  constructor(
    private readonly validator: ValidateUsageBatch,
    @InjectQueue(QueueName.Usage) private readonly queue: Queue<MeterUsageBatchPayload>,
    @Inject(REDIS) private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
    private readonly metrics: BillingMetrics,
    @Inject(INGEST_OPTIONS) private readonly options: IngestOptions,
  ) {
    // Registered by BullModule, which adds no error listener.
    logQueueErrors(queue, `queue ${QueueName.Usage}`);
    if (typeof (redis as { markAccepted?: unknown }).markAccepted !== 'function') {
      redis.defineCommand('markAccepted', {
        lua: readFileSync(join(__dirname, 'lua', 'mark-accepted.lua'), 'utf8'),
      });
    }
  }

  async ingest(body: unknown): Promise<IngestResult> {
    const receivedAt = Date.now();
    let events: UsageEventPayload[];
    try {
      events = await this.validator.validate(body, receivedAt);
    } catch (error) {
      const count = Array.isArray((body as { events?: unknown })?.events)
        ? (body as { events: unknown[] }).events.length
        : 1;
      this.metrics.usageEvents.inc({ outcome: 'rejected' }, count);
      throw error;
    }
    // Both are reads: asked at once, a request waits for one Redis round trip instead of two.
    const [queued, fresh] = await Promise.all([
      this.queue.count(),
      this.withoutAcceptedIds(firstOfEach(events, (event) => `${event.account_id}\u0000${event.id}`)),
    ]);
    // The contract: a queue deeper than its limit refuses; one exactly at it still takes a batch.
    if (queued > this.options.maxQueuedJobs) throw new QueueFullError(1);
    const duplicates = events.length - fresh.length;
    this.metrics.usageEvents.inc({ outcome: 'duplicate' }, duplicates);
    if (fresh.length === 0) return { accepted: 0, duplicates };

    const batchId = newUsageBatchId();
    await this.queue.add(
      JobName.MeterUsageBatch,
      { batchId, receivedAt, events: fresh },
      { ...QUEUE_SETTINGS[QueueName.Usage].jobOptions, jobId: batchId },
    );
    this.metrics.usageEvents.inc({ outcome: 'accepted' }, fresh.length);
    // Not awaited: the events are queued, so the answer need not wait for the marks. A lost mark
    // only means a retry is deduplicated later, by Postgres. The marks go out on the connection
    // that the next request's lookup uses, so Redis runs them first: a retry to this process sees them.
    void this.markAccepted(fresh).catch((error: unknown) =>
      this.logger.warn(`could not remember accepted ids of batch ${batchId}: ${String(error)}`),
    );
    return { accepted: fresh.length, duplicates };
  }

  /** One MGET per marker group (at most 16 per request, each on a single slot). */
  private async withoutAcceptedIds(events: UsageEventPayload[]): Promise<UsageEventPayload[]> {
    const groups = this.byMarkerGroup(events);
    const replies = await sendEach(
      this.redis,
      groups,
      (group) => group[0][0],
      (commands, group) => commands.mget(group.map(([key]) => key)),
    );
    const seen = new Set<UsageEventPayload>();
    groups.forEach((group, index) => {
      (replies[index] as (string | null)[]).forEach(
        (value, position) => value !== null && seen.add(group[position][1]),
      );
    });
    return events.filter((event) => !seen.has(event));
  }

  /** One script call per marker group; see lua/mark-accepted.lua. */
  private async markAccepted(events: UsageEventPayload[]): Promise<void> {
    await sendEach(
      this.redis,
      this.byMarkerGroup(events),
      (group) => group[0][0],
      (commands, group) => {
        const keys = group.map(([key]) => key);
        return commands.markAccepted(keys.length, ...keys, this.options.dedupeWindowSeconds);
      },
    );
  }

  private byMarkerGroup(events: UsageEventPayload[]): Array<Array<[string, UsageEventPayload]>> {
    const groups = new Map<string, Array<[string, UsageEventPayload]>>();
    for (const event of events) {
      const group = acceptedEventGroup(event.account_id);
      let members = groups.get(group);
      if (!members) groups.set(group, (members = []));
      members.push([this.keys.acceptedEvent(event.account_id, event.id), event]);
    }
    return [...groups.values()];
  }
}
