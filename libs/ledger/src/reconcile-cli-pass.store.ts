import { BillingMetrics, ReconcileCliPass } from '@app/metrics';
import { REDIS, RedisClient, RedisKeys } from '@app/redis';
import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { ReconcileReport } from './reconcile-balances.service';

/**
 * The last pass of `npm run reconcile`, kept in Redis: the command's process exits at once and is
 * never scraped, so the api exports the record instead (ExportReconcileCliPass). One hash,
 * overwritten by each pass; if Redis loses it the gauges read 0 (no pass recorded).
 */
@Injectable()
export class ReconcileCliPassStore {
  constructor(
    @Inject(REDIS) private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
  ) {}

  async record(report: ReconcileReport, at = new Date()): Promise<void> {
    await this.redis.hset(this.keys.reconcileCliPass(), {
      at: String(Math.floor(at.getTime() / 1000)),
      accounts_checked: String(report.accountsChecked),
      drifted: String(report.drifted),
      drift_micros: String(report.driftMicros),
      repaired: String(report.repaired),
    });
  }

  async last(): Promise<ReconcileCliPass | null> {
    const fields = await this.redis.hgetall(this.keys.reconcileCliPass());
    if (!fields.at) return null;
    return {
      at: Number(fields.at),
      drifted: Number(fields.drifted),
      driftMicros: BigInt(fields.drift_micros),
    };
  }
}

/** Makes this process's /metrics export the command's last pass (the api provides it). */
@Injectable()
export class ExportReconcileCliPass implements OnModuleInit {
  constructor(
    private readonly store: ReconcileCliPassStore,
    private readonly metrics: BillingMetrics,
  ) {}

  onModuleInit(): void {
    this.metrics.watchReconcileCliPass(() => this.store.last());
  }
}
