import { withDeadline } from '@app/http';
import { BillingMetrics } from '@app/metrics';
import {
  columnsOfUsageBatch,
  logQueueErrors,
  MeterUsageBatchPayload,
  newUsageBatchId,
  QueueName,
  UsageBatchColumns,
} from '@app/queue';
import { InjectQueue } from '@nestjs/bullmq';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { Queue } from 'bullmq';
import { crashAt, FAILPOINT, FailpointName } from '../failpoint';
import { MeterResult, MeterUsageBatchService, RatedBatch } from '../meter-usage-batch.service';
import { mergeBatches } from './merge-batches';
import { UsageGroupClaims, UsageGroupRecord } from './usage-group-claims';

export interface UsageGroupingOptions {
  /** Most batches charged together (1: each alone). */
  batchesPerGroup: number;
  /** How long a batch that could start a group now waits for others to join it. */
  lingerMs: number;
  /** Groups this process charges at once. */
  groupsAtOnce: number;
  /** A group still running after this long fails its batches, which are retried (it is idempotent). */
  timeoutMs: number;
}

export const USAGE_GROUPING = Symbol('USAGE_GROUPING');

/** What the worker reports for one queued batch. */
export interface BatchOutcome {
  /** The id its events were charged under: its own, or its group's. */
  chargedAs: string;
  /** Batches charged together in that run. */
  batches: number;
  events: number;
}

/** A queued batch, rated. */
interface QueuedBatch extends RatedBatch {
  /** When ingest accepted it (epoch ms): the start of its accepted-to-persisted lag. */
  receivedAt: number;
}

interface Waiting {
  batch: QueuedBatch;
  since: number;
  resolve(outcome: BatchOutcome): void;
  reject(error: unknown): void;
}

/**
 * Charges queued usage batches in groups: the batches a worker holds are merged and charged
 * under a new group id, with one Redis pass (one script call per account) and one Postgres
 * transaction for all of them. Each account's share of that work (its reserve and settle calls,
 * its ledger row, its balance and rollup updates) then serves the events of several batches:
 * under load that is most of the per-event cost.
 *
 * A group's pending Redis entries and ledger rows are keyed by its id, so its batches must never
 * be charged in another group until it has settled. Before charging, the group is recorded for
 * each of its batches (UsageGroupClaims). A batch delivered again (a retry, or after its worker
 * died) that has a record charges its whole group again, its batches' events loaded from the
 * queue in the recorded order: the same change as before, which finds its pending entries and
 * ledger rows as a redelivered batch always has. A batch delivered again without a record is
 * charged alone under its own id, as it was the first time or after its group settled.
 */
@Injectable()
export class UsageBatchGrouper {
  private readonly logger = new Logger(UsageBatchGrouper.name);
  private readonly waiting: Waiting[] = [];
  private running = 0;
  private lingerTimer: NodeJS.Timeout | undefined;
  /** Groups being charged again here: their batches delivered meanwhile wait for the same run. */
  private readonly recharging = new Map<string, Promise<BatchOutcome>>();
  /** Charges running here; the one that ends with none other running or waiting flushes held settles. */
  private charging = 0;

  constructor(
    private readonly meter: MeterUsageBatchService,
    private readonly claims: UsageGroupClaims,
    private readonly metrics: BillingMetrics,
    @InjectQueue(QueueName.Usage) private readonly queue: Queue<MeterUsageBatchPayload>,
    @Inject(USAGE_GROUPING) private readonly options: UsageGroupingOptions,
    @Inject(FAILPOINT) private readonly failpoint: FailpointName | undefined,
  ) {
    // Registered by BullModule, which adds no error listener.
    logQueueErrors(queue, `queue ${QueueName.Usage}`);
  }

  async charge(payload: MeterUsageBatchPayload, firstDelivery: boolean): Promise<BatchOutcome> {
    // Rated before grouping: a batch that cannot be priced fails alone, never its group.
    const batch = await this.rated(payload);
    if (!firstDelivery) return this.chargeAgain(batch);
    return new Promise<BatchOutcome>((resolve, reject) => {
      this.waiting.push({ batch, since: Date.now(), resolve, reject });
      this.startGroups();
    });
  }

  private startGroups(): void {
    while (this.running < this.options.groupsAtOnce && this.waiting.length > 0) {
      const waited = Date.now() - this.waiting[0].since;
      if (this.waiting.length < this.options.batchesPerGroup && waited < this.options.lingerMs) {
        this.lingerTimer ??= setTimeout(() => {
          this.lingerTimer = undefined;
          this.startGroups();
        }, this.options.lingerMs - waited);
        return;
      }
      const members = this.waiting.splice(0, this.options.batchesPerGroup);
      this.running++;
      void this.chargeNew(members).finally(() => {
        this.running--;
        this.startGroups();
      });
    }
  }

  private async chargeNew(members: Waiting[]): Promise<void> {
    try {
      const batches = members.map((member) => member.batch);
      if (batches.length === 1) {
        members[0].resolve(await this.run(batches[0], batches));
        return;
      }
      const group = { groupId: newUsageBatchId(), batchIds: batches.map((batch) => batch.batchId) };
      if (!(await this.claims.claim(group))) {
        // Some batch was grouped by an earlier attempt after all: each goes its own way, claiming nothing new.
        await Promise.all(
          members.map((member) => this.chargeAgain(member.batch).then(member.resolve, member.reject)),
        );
        return;
      }
      const outcome = await this.run(mergeBatches(group.groupId, batches), batches);
      await this.settled(group);
      for (const member of members) member.resolve({ ...outcome, events: member.batch.events.length });
    } catch (error) {
      for (const member of members) member.reject(error);
    }
  }

  /** A batch delivered before: charged again in its recorded group, or alone under its own id. */
  private async chargeAgain(batch: QueuedBatch): Promise<BatchOutcome> {
    const group = await this.claims.groupOf(batch.batchId);
    if (!group) return this.run(batch, [batch]);
    let run = this.recharging.get(group.groupId);
    if (!run) {
      run = this.rechargeGroup(group, batch).finally(() => this.recharging.delete(group.groupId));
      this.recharging.set(group.groupId, run);
    }
    return { ...(await run), events: batch.events.length };
  }

  /**
   * The group exactly as first charged. A batch missing from the queue was completed, which
   * happens only after its group settled (its events are stored: nothing more is charged), or
   * removed days after failing for good (its events are lost, as they would be alone). Either way
   * the group's pending entries settle to what Postgres committed under its id.
   */
  private async rechargeGroup(group: UsageGroupRecord, delivered: QueuedBatch): Promise<BatchOutcome> {
    const batches: QueuedBatch[] = [];
    for (const batchId of group.batchIds) {
      if (batchId === delivered.batchId) {
        batches.push(delivered);
        continue;
      }
      const job = await this.queue.getJob(batchId);
      // Read once here and handed to rate(); a job whose events cannot be read is left out, as before.
      const columns = job ? columnsOfUsageBatch(job.data) : null;
      if (columns) batches.push(await this.rated(job!.data, columns));
    }
    const outcome = await this.run(mergeBatches(group.groupId, batches), batches);
    await this.settled(group);
    return outcome;
  }

  /** Charges the events under their batch's (or group's) id and reports the run once. */
  private async run(charged: RatedBatch, batches: readonly QueuedBatch[]): Promise<BatchOutcome> {
    this.charging++;
    let result: MeterResult;
    try {
      result = await withDeadline(
        this.meter.charge(charged, { holdSettles: true }),
        this.options.timeoutMs,
        `usage batch ${charged.batchId} took more than ${this.options.timeoutMs} ms; retrying`,
      );
    } finally {
      // Back to back under load, groups leave the pending entries that settle would only remove
      // for the last of them, one call per account for all (DeferredSettles). Flushed before this
      // charge's jobs complete: a drained queue leaves no pending entry behind.
      if (--this.charging === 0 && this.waiting.length === 0) await this.meter.flushHeldSettles();
    }
    const events = batches.reduce((sum, batch) => sum + batch.events.length, 0);
    this.metrics.eventsPersisted.inc(result.persistedEvents);
    this.metrics.eventsChargedMicros.inc(Number(result.chargedMicros));
    // Ingest drops repeated ids within a request, so every event not stored met a stored one.
    this.metrics.eventsAlreadyStored.inc(events - result.persistedEvents);
    // Observed by the attempt that committed the batches only: a replay storing nothing (after a
    // crash before the ack, or `failed-jobs --retry`) would record each batch's whole age as lag.
    if (result.persistedEvents > 0) {
      this.metrics.groupBatches.observe(batches.length);
      for (const batch of batches) {
        this.metrics.batchSize.observe(batch.events.length);
        this.metrics.persistLag.observe((result.persistedAt - batch.receivedAt) / 1000);
      }
    }
    return { chargedAs: charged.batchId, batches: batches.length, events };
  }

  private async rated(payload: MeterUsageBatchPayload, columns?: UsageBatchColumns): Promise<QueuedBatch> {
    return {
      batchId: payload.batchId,
      receivedAt: payload.receivedAt,
      events: await this.meter.rate(payload, columns),
    };
  }

  /**
   * The group settled: its records go. Its batches delivered again from here on (the process died
   * before their jobs were acknowledged) are charged alone, find their events stored, and their
   * deductions are undone at settle. A record left behind (the delete failed) has such a batch
   * charge the whole group again instead, which finds it committed; otherwise the record expires.
   */
  private async settled(group: UsageGroupRecord): Promise<void> {
    await this.claims
      .release(group)
      .catch((error) =>
        this.logger.warn(`could not delete the record of usage group ${group.groupId}: ${error}`),
      );
    crashAt(this.failpoint, 'after-group-settle');
  }
}
