import { CatalogCache } from '@app/catalog';
import {
  BalanceStore,
  crossingOfToken,
  DeferredSettles,
  newChangeToken,
  SettledEntry,
  Settlement,
  settleOnlyRemovesEntry,
} from '@app/ledger';
import { BillingMetrics } from '@app/metrics';
import { eventCostMicros } from '@app/money';
import {
  AutoReloadPayload,
  autoReloadJobId,
  columnsOfUsageBatch,
  JobName,
  logQueueErrors,
  MeterUsageBatchPayload,
  QUEUE_SETTINGS,
  QueueName,
  UsageBatchColumns,
} from '@app/queue';
import { RedisKeys } from '@app/redis';
import { spendPeriodIdOfDay } from '@app/access';
import { InjectQueue } from '@nestjs/bullmq';
import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { Queue } from 'bullmq';
import { BudgetCounterRef, committedCounterSpend } from './budget-counter-spend';
import { crashAt, FAILPOINT, FailpointName } from './failpoint';
import { metadataProblem } from './metadata-problem';
import { CommittedAlertChange, RaiseOutcome, USAGE_ALERTS, UsageAlertHook } from './usage-alerts';
import { CommittedUsage, KeyDaySpend, RatedEvent, UsageBatchRepository } from './usage-batch.repository';

/** Rated events charged under one id: a queued batch's own, or its group's (grouping/). */
export interface RatedBatch {
  batchId: string;
  events: RatedEvent[];
}

export interface MeterResult {
  events: number;
  accounts: number;
  /** Events this attempt stored (a replay of a committed batch stores none): each event counts once. */
  persistedEvents: number;
  /** Usage debits this attempt committed: each debit counts once. */
  chargedMicros: bigint;
  /** When this attempt's transaction returned (epoch ms): the end of its batches' accepted-to-persisted lag. */
  persistedAt: number;
}

export interface ChargeOptions {
  /**
   * Hand settles that would only remove their pending entry to DeferredSettles instead of making
   * them now; the caller then flushes it (flushHeldSettles) once no other charge is running.
   */
  holdSettles?: boolean;
}

/**
 * Charges one usage batch (a queued batch, or a group of them: grouping/): deduct in Redis (one Lua call per account), commit events and ledger
 * rows to Postgres in one transaction, then settle Redis with what Postgres committed (with
 * `holdSettles`, a settle that would only remove its pending entry is left to DeferredSettles).
 * Each step is safe to repeat: a redelivered batch finds its pending Redis entries and its ledger rows.
 *
 * The deduction also detects auto-reload crossings (reserve-change.lua). A crossing counts only
 * if the attempt that made it is the one Postgres committed (its number is in the committed
 * token), and its reload job is added after the settle on every attempt that gets there, under
 * the crossing's job id: a crash anywhere re-adds the same job, never a second one.
 *
 * Spending alerts (budget thresholds, low balance; USAGE_ALERTS, libs/alerts) are found by the
 * same reserve call and inserted in the batch's transaction for the attempt Postgres committed.
 */
@Injectable()
export class MeterUsageBatchService {
  private readonly logger = new Logger(MeterUsageBatchService.name);

  constructor(
    private readonly catalog: CatalogCache,
    private readonly balances: BalanceStore,
    private readonly heldSettles: DeferredSettles,
    private readonly repository: UsageBatchRepository,
    private readonly metrics: BillingMetrics,
    private readonly keys: RedisKeys,
    @Inject(FAILPOINT) private readonly failpoint: FailpointName | undefined,
    @InjectQueue(QueueName.Payments) private readonly payments: Queue<AutoReloadPayload>,
    @Optional() @Inject(USAGE_ALERTS) private readonly alerts: UsageAlertHook | null = null,
  ) {
    // Registered by BullModule, which adds no error listener.
    logQueueErrors(payments, `queue ${QueueName.Payments}`);
  }

  /**
   * Prices each event at its occurred_at; throws for one without a price (a bug: never charged 0).
   * `columns`: the batch's, when the caller has read them already.
   */
  async rate(
    batch: MeterUsageBatchPayload,
    columns: UsageBatchColumns | null = columnsOfUsageBatch(batch),
  ): Promise<RatedEvent[]> {
    await this.catalog.refreshIfStale();
    if (!columns) throw new Error(`malformed usage batch payload (${batch.batchId})`);
    const rated = new Array<RatedEvent>(columns.id.length);
    for (let i = 0; i < rated.length; i++) rated[i] = this.rateEvent(columns, i, batch.receivedAt);
    return rated;
  }

  /** Charges rated events under the batch's id: its change key in Redis and its ledger rows' cause. */
  async charge(batch: RatedBatch, options: ChargeOptions = {}): Promise<MeterResult> {
    const { events } = batch;
    const debits = new Map<string, bigint>();
    for (const event of events)
      debits.set(event.accountId, (debits.get(event.accountId) ?? 0n) + event.costMicros);

    const now = new Date();
    const eventsOf = this.alerts ? groupByAccount(events) : new Map<string, RatedEvent[]>();
    const deductTimer = this.metrics.deductDuration.startTimer();
    const token = newChangeToken();
    const reserved = await this.balances.reserve(
      [...debits].map(([accountId, micros]) => ({
        accountId,
        changeKey: batch.batchId,
        appliedDelta: -micros,
        token,
        thresholdMicros: this.catalog.autoReloadThreshold(accountId),
        alerts: this.alerts?.rulesFor(accountId, eventsOf.get(accountId) ?? [], now),
      })),
    );
    deductTimer();
    crashAt(this.failpoint, 'after-deduct');

    const alerting = reserved.filter((entry) => entry.alertRecord !== '');
    // Budget counters each account's change added to (its pending entry's record, whichever attempt made it).
    const counters = new Map<string, BudgetCounterRef[]>();
    for (const entry of alerting) {
      const refs = this.alerts?.countersOf(entry.alertRecord) ?? [];
      if (refs.length > 0) counters.set(entry.accountId, refs);
    }
    const counterSpendOf = (accountId: string, usage: CommittedUsage) =>
      new Map((counters.get(accountId) ?? []).map((ref) => [ref.field, committedCounterSpend(usage, ref)]));
    const persistTimer = this.metrics.persistDuration.startTimer();
    let raised: RaiseOutcome = { raised: [], unreached: new Map() };
    const { committed, insertedEvents } = await this.repository.persist({
      batchId: batch.batchId,
      tokens: new Map(reserved.map((entry) => [entry.accountId, entry.token])),
      events,
      projectSpendOf: [...counters]
        .filter(([, refs]) => refs.some((ref) => ref.scope === 'project'))
        .map(([accountId]) => accountId),
      inTransaction:
        this.alerts && alerting.length > 0
          ? async (tx, ledger) => {
              // Only the attempt whose token Postgres recorded found real crossings (a late attempt's are undone at settle).
              const changes: CommittedAlertChange[] = alerting
                .filter((entry) => ledger.get(entry.accountId)?.redisToken === entry.token)
                .map((entry) => ({
                  accountId: entry.accountId,
                  alertRecord: entry.alertRecord,
                  counterSpend: counterSpendOf(entry.accountId, ledger.get(entry.accountId)!),
                }));
              if (changes.length > 0) raised = await this.alerts!.raise(tx, batch.batchId, changes);
            }
          : undefined,
    });
    persistTimer();
    const persistedAt = Date.now();
    crashAt(this.failpoint, 'after-commit');

    // Which keys have spend limits, as of now: a limit set after this look is read from Postgres,
    // where this batch is already committed (keySpendCounters).
    await this.catalog.refreshIfStale();
    const reservedOf = new Map(reserved.map((entry) => [entry.accountId, entry]));
    const settleNow: Settlement[] = [];
    const settledAsReserved: SettledEntry[] = [];
    for (const [accountId, debit] of debits) {
      const usage = committed.get(accountId);
      const settlement: Settlement = {
        accountId,
        changeKey: batch.batchId,
        committedToken: usage?.redisToken ?? '',
        committedDelta: usage?.amountMicros ?? 0n,
        keySpend: usage ? this.keySpendCounters(accountId, usage.keySpend) : [],
        counterSpend: usage
          ? [...counterSpendOf(accountId, usage)].map(([field, micros]) => ({
              field,
              micros,
              unreached: raised.unreached.get(accountId)?.has(field) ?? false,
            }))
          : [],
      };
      const entry = reservedOf.get(accountId)!;
      if (options.holdSettles && settleOnlyRemovesEntry(entry, -debit, settlement)) {
        settledAsReserved.push({
          accountId,
          changeKey: batch.batchId,
          appliedDelta: -debit,
          token: entry.token,
        });
      } else settleNow.push(settlement);
    }
    await this.balances.settle(settleNow);
    this.heldSettles.hold(settledAsReserved);
    if (settledAsReserved.length > 0) crashAt(this.failpoint, 'after-settles-held');

    await this.enqueueReloads(committed);
    if (raised.raised.length > 0 && this.alerts) {
      // Committed already: a failure here only delays the email until the sweep finds the alert.
      await this.alerts
        .dispatch(raised.raised)
        .catch((error) => this.logger.warn(`alert dispatch failed: ${error}`));
    }

    let chargedMicros = 0n;
    for (const usage of committed.values()) if (usage.recordedNow) chargedMicros -= usage.amountMicros;
    return {
      events: events.length,
      accounts: debits.size,
      persistedEvents: insertedEvents,
      chargedMicros,
      persistedAt,
    };
  }

  /** Removes the pending entries held by charges with `holdSettles` (DeferredSettles.flush; never throws). */
  flushHeldSettles(): Promise<void> {
    return this.heldSettles.flush();
  }

  /** One reload job per crossing that committed; BullMQ drops a job id it already holds. */
  private async enqueueReloads(committed: Map<string, { redisToken: string }>): Promise<void> {
    const jobs = [...committed].flatMap(([accountId, usage]) => {
      const crossing = crossingOfToken(usage.redisToken);
      if (crossing === null) return [];
      return [
        {
          name: JobName.AutoReload,
          data: { accountId, crossing },
          opts: {
            ...QUEUE_SETTINGS[QueueName.Payments].jobOptions,
            jobId: autoReloadJobId(accountId, crossing),
          },
        },
      ];
    });
    if (jobs.length > 0) await this.payments.addBulk(jobs);
  }

  /**
   * Each limited key's spend added to the counter of its limit period. Only limited keys have
   * counters (KeySpendStore reads no other, and loads a missing one from Postgres): a key without
   * a limit in the catalog now gets its counter, if ever, from a load after this batch committed.
   */
  private keySpendCounters(
    accountId: string,
    spend: KeyDaySpend[],
  ): { counterKey: string; micros: bigint }[] {
    const totals = new Map<string, bigint>();
    for (const [keyId, day, micros] of spend) {
      const period = this.catalog.apiKey(keyId)?.limitPeriod;
      if (!period) continue;
      const counterKey = this.keys.keySpend(accountId, keyId, spendPeriodIdOfDay(period, day));
      totals.set(counterKey, (totals.get(counterKey) ?? 0n) + BigInt(micros));
    }
    return [...totals].map(([counterKey, micros]) => ({ counterKey, micros }));
  }

  /**
   * The event's metadata as the text Postgres casts to jsonb. Ingest refuses metadata that jsonb
   * cannot hold, but a job queued before it did (or by anything else) may still carry some, and
   * one such event would fail the Postgres transaction of every batch charged with it, on every
   * retry. The event was accepted (202) and is charged once like any other (I2); its metadata is
   * only a label, so it is stored without it, and a warning names the event.
   */
  private storableMetadata(
    metadata: Record<string, unknown>,
    eventId: string,
    accountId: string,
  ): string | null {
    const problem = metadataProblem(metadata);
    if (!problem) return JSON.stringify(metadata);
    this.logger.warn(
      `event ${eventId} of account ${accountId}: metadata not stored, Postgres cannot hold it (${problem})`,
    );
    return null;
  }

  /** Event i of a queued batch, priced; read from the columns, no object per event in between. */
  private rateEvent(columns: UsageBatchColumns, i: number, receivedAtMs: number): RatedEvent {
    const modelId = columns.models[columns.model[i]];
    const occurredAtMs = columns.occurredAt[i];
    const price = this.catalog.priceAt(modelId, occurredAtMs);
    // Ingest refused events without a price; versions are never deleted, so this means a bug: retry, never charge 0.
    if (!price) throw new Error(`no price for model ${modelId} at ${new Date(occurredAtMs).toISOString()}`);
    const tokens = {
      promptTokens: columns.promptTokens[i],
      completionTokens: columns.completionTokens[i],
      cachedTokens: columns.cachedTokens[i],
      reasoningTokens: columns.reasoningTokens[i],
    };
    const accountId = columns.accounts[columns.account[i]];
    const eventId = columns.id[i];
    const metadata = columns.metadata?.[i];
    return {
      accountId,
      eventId,
      apiKeyId: columns.apiKey[i] < 0 ? null : columns.apiKeys[columns.apiKey[i]],
      projectId: columns.project[i] < 0 ? null : columns.projects[columns.project[i]],
      modelId,
      ...tokens,
      costMicros: eventCostMicros(tokens, price),
      priceVersionId: price.id,
      metadata: metadata == null ? null : this.storableMetadata(metadata, eventId, accountId),
      occurredAtMs,
      receivedAtMs,
    };
  }
}

function groupByAccount(events: readonly RatedEvent[]): Map<string, RatedEvent[]> {
  const byAccount = new Map<string, RatedEvent[]>();
  for (const event of events) {
    const list = byAccount.get(event.accountId);
    if (list) list.push(event);
    else byAccount.set(event.accountId, [event]);
  }
  return byAccount;
}
