import { BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import { BalanceStore, ReservedChange, SettledEntry, Settlement } from './balance-store';

/** The longest a held entry waits when no charge flushes it (sustained load, a flush that failed). */
export const HELD_SETTLE_FLUSH_MS = 1_000;
const RETRY_AFTER_FAILURE_MAX_MS = 30_000;

/**
 * True when settling would only remove the pending entry: reserved by this attempt ("created")
 * and committed under its token by exactly its applied delta, with no alert record and no spend
 * counters to move (settle-change.lua would take the delta back and add the same amount).
 */
export function settleOnlyRemovesEntry(
  reserved: ReservedChange,
  appliedDelta: bigint,
  settlement: Settlement,
): boolean {
  return (
    reserved.status === 'created' &&
    reserved.alertRecord === '' &&
    settlement.committedToken === reserved.token &&
    settlement.committedDelta === appliedDelta &&
    (settlement.keySpend ?? []).length === 0 &&
    (settlement.counterSpend ?? []).length === 0
  );
}

/**
 * Settles that would only remove their pending entry (settleOnlyRemovesEntry), held and then
 * removed in one script call per account (clear-settled.lua). Under a skewed load most accounts
 * are in every usage group, so a worker charging groups back to back pays one Redis call per
 * account per flush instead of one per account per group. Holding changes no balance: Redis
 * already equals Postgres for such an entry, and the reconciler counts it as nothing
 * (expectedBalance: applied - committed = 0).
 *
 * The charge that ends a burst flushes (UsageBatchGrouper), so a worker with no usage in hand
 * holds nothing, and a batch's job completes only after its entries are gone or another charge
 * still running will flush them. A timer flushes after HELD_SETTLE_FLUSH_MS otherwise. Entries of
 * a process killed before its flush stay, correct, until the reconciler settles them as orphans
 * (ReconcileBalancesService, ORPHANED_CHANGE_AFTER_MS).
 */
@Injectable()
export class DeferredSettles implements BeforeApplicationShutdown {
  private readonly logger = new Logger(DeferredSettles.name);
  private held: SettledEntry[] = [];
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;
  private shuttingDown = false;
  /** The last flush asked for; each runs after the one before. */
  private flushes: Promise<void> = Promise.resolve();

  constructor(private readonly balances: BalanceStore) {}

  /** Entries held now. */
  get size(): number {
    return this.held.length;
  }

  hold(entries: readonly SettledEntry[]): void {
    if (entries.length === 0) return;
    for (const entry of entries) this.held.push(entry);
    if (this.timer || this.shuttingDown) return;
    const delay = Math.min(HELD_SETTLE_FLUSH_MS * 2 ** this.failures, RETRY_AFTER_FAILURE_MAX_MS);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, delay).unref();
  }

  /**
   * Removes every held entry, after any flush already under way (so entries it failed to remove
   * go too). Never throws: what could not be removed is held again and retried.
   */
  flush(): Promise<void> {
    this.flushes = this.flushes.then(() => this.removeHeld());
    return this.flushes;
  }

  private async removeHeld(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const entries = this.held;
    if (entries.length === 0) return;
    this.held = [];
    try {
      await this.balances.clearSettled(entries);
      this.failures = 0;
    } catch (error) {
      this.failures++;
      this.logger.warn(
        `could not remove ${entries.length} settled pending entries, will retry: ${String(error)}`,
      );
      this.hold(entries);
    }
  }

  /** Charges still running flush their own when they end; what is held now goes before Redis closes. */
  async beforeApplicationShutdown(): Promise<void> {
    this.shuttingDown = true;
    await this.flush();
    clearTimeout(this.timer);
  }
}
