/** Thrown by a probe when waiting longer cannot help (the process it waits for has exited). */
export class StopWaiting extends Error {}

/**
 * Polls a condition until it holds: tests wait for an observable event (a row, a drained queue),
 * never for a fixed time. Fails with the last value seen, to say what was missing.
 */
export async function waitFor<T>(
  probe: () => Promise<T> | T,
  accept: (value: T) => boolean = Boolean,
  { timeoutMs = 30_000, intervalMs = 50, what = 'condition' } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      last = await probe();
      if (accept(last)) return last;
    } catch (error) {
      if (error instanceof StopWaiting) throw error;
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}; last value: ${JSON.stringify(last, (_, v) => (typeof v === 'bigint' ? v.toString() : v))}` +
      (lastError ? `; last error: ${String(lastError)}` : ''),
  );
}
