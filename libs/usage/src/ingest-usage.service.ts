import { BillingMetrics } from '@app/metrics';
import {
  JobName,
  logQueueErrors,
  MeterUsageBatchPayload,
  newUsageBatchId,
  QUEUE_SETTINGS,
  QueueName,
  usageBatchColumns,
  UsageEventPayload,
} from '@app/queue';
import { acceptedEventGroup, REDIS, RedisClient, RedisKeys, sendEach } from '@app/redis';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InjectQueue } from '@nestjs/bullmq';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { Queue } from 'bullmq';
import { Result } from 'ioredis';
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
    // Each (account, event id) once, the first: its marker key names it, built once per request.
    const markers = this.markersOf(events);
    // Both are reads: asked at once, a request waits for one Redis round trip instead of two.
    const [queued, freshMarkers] = await Promise.all([this.queue.count(), this.withoutAcceptedIds(markers)]);
    const fresh = freshMarkers.map((marker) => marker.event);
    // The contract: a queue deeper than its limit refuses; one exactly at it still takes a batch.
    if (queued > this.options.maxQueuedJobs) throw new QueueFullError(1);
    const duplicates = events.length - fresh.length;
    this.metrics.usageEvents.inc({ outcome: 'duplicate' }, duplicates);
    if (fresh.length === 0) return { accepted: 0, duplicates };

    const batchId = newUsageBatchId();
    await this.queue.add(
      JobName.MeterUsageBatch,
      { batchId, receivedAt, columns: usageBatchColumns(fresh) },
      { ...QUEUE_SETTINGS[QueueName.Usage].jobOptions, jobId: batchId },
    );
    this.metrics.usageEvents.inc({ outcome: 'accepted' }, fresh.length);
    // Not awaited: the events are queued, so the answer need not wait for the marks. A lost mark
    // only means a retry is deduplicated later, by Postgres. The marks go out on the connection
    // that the next request's lookup uses, so Redis runs them first: a retry to this process sees them.
    void this.markAccepted(freshMarkers).catch((error: unknown) =>
      this.logger.warn(`could not remember accepted ids of batch ${batchId}: ${String(error)}`),
    );
    return { accepted: fresh.length, duplicates };
  }

  /** One MGET per marker group (at most 16 per request, each on a single slot). */
  private async withoutAcceptedIds(markers: AcceptedMarker[]): Promise<AcceptedMarker[]> {
    const groups = byMarkerGroup(markers);
    const replies = await sendEach(
      this.redis,
      groups,
      (group) => group[0].key,
      (commands, group) => commands.mget(group.map((marker) => marker.key)),
    );
    const seen = new Set<AcceptedMarker>();
    groups.forEach((group, index) => {
      (replies[index] as (string | null)[]).forEach(
        (value, position) => value !== null && seen.add(group[position]),
      );
    });
    return markers.filter((marker) => !seen.has(marker));
  }

  /** One script call per marker group; see lua/mark-accepted.lua. */
  private async markAccepted(markers: AcceptedMarker[]): Promise<void> {
    await sendEach(
      this.redis,
      byMarkerGroup(markers),
      (group) => group[0].key,
      (commands, group) => {
        const keys = group.map((marker) => marker.key);
        return commands.markAccepted(keys.length, ...keys, this.options.dedupeWindowSeconds);
      },
    );
  }

  /** The first event of each (account, event id), in order, with its marker key. */
  private markersOf(events: UsageEventPayload[]): AcceptedMarker[] {
    const seen = new Set<string>();
    const markers: AcceptedMarker[] = [];
    for (const event of events) {
      const key = this.keys.acceptedEvent(event.account_id, event.id);
      if (seen.has(key)) continue;
      seen.add(key);
      markers.push({ key, group: acceptedEventGroup(event.account_id), event });
    }
    return markers;
  }
}

/** An event with the Redis key that remembers its id was accepted (RedisKeys.acceptedEvent). */
interface AcceptedMarker {
  key: string;
  group: string;
  event: UsageEventPayload;
}

function byMarkerGroup(markers: AcceptedMarker[]): AcceptedMarker[][] {
  const groups = new Map<string, AcceptedMarker[]>();
  for (const marker of markers) {
    const members = groups.get(marker.group);
    if (members) members.push(marker);
    else groups.set(marker.group, [marker]);
  }
  return [...groups.values()];
}
