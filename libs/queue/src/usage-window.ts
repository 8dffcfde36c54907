/** Gateways' clocks may run a little ahead of ours. */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;
/** Older usage is refused: it would land in closed billing periods. */
export const MAX_EVENT_AGE_MS = 35 * 24 * 3600_000;

/**
 * The received_at range that holds every stored event that occurred in [from, to): ingest
 * accepts an event only if received_at - MAX_EVENT_AGE_MS <= occurred_at <= received_at +
 * MAX_CLOCK_SKEW_MS (received_at is the instant it validated against), so received_at lies in
 * [from - MAX_CLOCK_SKEW_MS, to + MAX_EVENT_AGE_MS). Reads by occurred_at of rows kept by
 * received_at (usage_scope_spend_hourly) bound their index range with it.
 * Narrowing either limit would leave events stored under the wider one outside: keep the old
 * value here until they are older than any period still read.
 */
export function receivedAtRangeOfOccurred(from: Date, to: Date): { from: Date; to: Date } {
  return {
    from: new Date(from.getTime() - MAX_CLOCK_SKEW_MS),
    to: new Date(to.getTime() + MAX_EVENT_AGE_MS),
  };
}
