/**
 * Every Redis key the product owns. Keys of one account share the hash tag {<account id>}, so each
 * Lua script touches a single slot and Redis Cluster works (T6).
 */
/** 0-f: the first hex digit of the account id (random in a UUID v4, so groups are even). */
export function acceptedEventGroup(accountId: string): string {
  return accountId.charAt(0);
}

export class RedisKeys {
  constructor(readonly prefix: string) {}

  /** Hash {bal, gen}: the account's balance in micros and a counter bumped by every change. */
  balance(accountId: string): string {
    return `${this.prefix}:acct:{${accountId}}:b`;
  }

  /** Hash changeKey -> "<applied delta>:<token>": changes applied in Redis, not yet settled against Postgres. */
  pending(accountId: string): string {
    return `${this.prefix}:acct:{${accountId}}:pend`;
  }

  /** Integer micros an API key spent in one limit period (d:/w:/m: id), counted once its usage is committed. */
  keySpend(accountId: string, keyId: string, periodId: string): string {
    return `${this.prefix}:acct:{${accountId}}:ks:${keyId}:${periodId}`;
  }

  /**
   * Marks an accepted event id for the dedupe window, to answer `duplicates` at ingest. Markers
   * are spread over 16 hash tags by account rather than one per account, so ingest checks and
   * marks a whole request with at most 16 commands, each on one slot (Redis Cluster works).
   */
  acceptedEvent(accountId: string, eventId: string): string {
    return `${this.prefix}:ev:{${acceptedEventGroup(accountId)}}:${accountId}:${eventId}`;
  }

  /**
   * "<group id>|<batch id>,<batch id>,...": the usage group a queued batch was charged in
   * (libs/usage grouping), so a redelivered batch charges its whole group again under the same
   * id. All under one hash tag: a group's batches are claimed by one script call.
   */
  usageGroupOf(batchId: string): string {
    return `${this.prefix}:ugroup:{usage-groups}:${batchId}`;
  }

  /** Bumped whenever accounts or prices change; caches compare it with what they loaded. */
  catalogVersion(): string {
    return `${this.prefix}:catalog:version`;
  }

  /** Hash: the summary of the last `npm run reconcile` pass, exported by the api's /metrics. */
  reconcileCliPass(): string {
    return `${this.prefix}:reconcile:cli-pass`;
  }

  catalogChannel(): string {
    return `${this.prefix}:catalog:changed`;
  }

  /**
   * BullMQ's own prefix, under ours. BullMQ's scripts touch several keys of a queue at once, so
   * the prefix carries a hash tag of its own: every queue key lands in one slot in Redis Cluster.
   */
  bullPrefix(): string {
    return `${this.prefix}:{bull}`;
  }
}
