/** Wait before restarting an app that crashed after running a while. */
export const FIRST_RESTART_DELAY_MS = 1_000;
/** The longest wait: a dependency that comes back is picked up within this, however long it was away. */
export const MAX_RESTART_DELAY_MS = 30_000;
/** An app that ran this long before it exited starts again from the first delay. */
export const STABLE_RUN_MS = 60_000;

/**
 * How long start-all waits before restarting one app, which it does however often the app exits:
 * a supervisor that gives up after a fixed number of restarts left the group down for good when a
 * dependency came back later than that budget (apps wait for Redis at boot, but one lost mid-boot
 * or a Postgres that is away still crashes them). Crashes in a row double the wait up to
 * MAX_RESTART_DELAY_MS, so a broken build retries twice a minute, its error in the output each time.
 */
export class RestartBackoff {
  private crashesInARow = 0;

  /** The wait before restarting an app that exited after running `ranMs`. */
  next(ranMs: number): number {
    if (ranMs >= STABLE_RUN_MS) this.crashesInARow = 0;
    this.crashesInARow++;
    return Math.min(FIRST_RESTART_DELAY_MS * 2 ** (this.crashesInARow - 1), MAX_RESTART_DELAY_MS);
  }
}
