/** How long the same message stays quiet once logged: an outage repeats it at every reconnect or poll. */
export const ERROR_REPEAT_MS = 5 * 60_000;
/** Messages remembered at once; past that the oldest are forgotten (and logged again if they recur). */
const REMEMBERED_MESSAGES = 100;

/**
 * Logs an error message once, then at most once every ERROR_REPEAT_MS with the number of repeats
 * it stood for, whoever reported it. During a Redis or Postgres outage, pollers and every queue
 * and worker of a process report the same failure several times a second; the outage itself is
 * what ops need to see, once, not thousands of copies of it.
 */
export class RepeatedErrorLog {
  private readonly seen = new Map<string, { loggedAt: number; repeats: number }>();

  constructor(
    private readonly write: (line: string) => void,
    private readonly now: () => number = Date.now,
  ) {}

  report(label: string, error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    const now = this.now();
    const seen = this.seen.get(message);
    if (seen && now - seen.loggedAt < ERROR_REPEAT_MS) {
      seen.repeats++;
      return;
    }
    const repeats = seen?.repeats ? ` (${seen.repeats} more since it was last logged)` : '';
    this.seen.delete(message);
    this.seen.set(message, { loggedAt: now, repeats: 0 });
    if (this.seen.size > REMEMBERED_MESSAGES) this.seen.delete(this.seen.keys().next().value!);
    this.write(`${label}: ${message}${repeats}`);
  }
}
