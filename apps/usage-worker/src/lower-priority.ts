import { getPriority, setPriority } from 'node:os';
import { readdirSync } from 'node:fs';

/**
 * Raises this process's nice value to `nice` (never lowers it: that needs privileges), on every
 * thread. On Linux the nice value belongs to each thread, and V8's garbage collection helpers are
 * running before any JavaScript is: about a third of the worker's CPU at full load. Threads
 * started later inherit the value from the thread that starts them. Elsewhere only the process's
 * own (main thread's) value can be set this way.
 */
export function lowerPriority(nice: number): void {
  let threads: number[];
  try {
    threads = readdirSync('/proc/self/task').map(Number);
  } catch {
    threads = [0];
  }
  for (const thread of threads) {
    try {
      if (getPriority(thread) < nice) setPriority(thread, nice);
    } catch {
      // The thread ended between the listing and the call, or the platform refused: keep going.
    }
  }
}
