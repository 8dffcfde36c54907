/**
 * Preloaded (`node --require`) into every process scripts/start-all runs. A supervisor that dies
 * without stopping its apps (SIGKILL, the OOM killer) would leave them running under init,
 * holding their ports, and the next `npm start` would crash-loop on them. So each app watches
 * for its parent to change and then stops itself as SIGTERM stops it: gracefully. A graceful
 * stop that hangs (a connection that never closes) is what start-all would end with SIGKILL;
 * with start-all gone, the app does it itself after the same grace period.
 */
import { isMainThread } from 'node:worker_threads';

/** Set by start-all to its pid; unset (Docker, production, tests), this module does nothing. */
export const SUPERVISOR_PID_ENV = 'BILLING_SUPERVISOR_PID';
/** How long an app may take to stop gracefully: longer than a usage batch takes (BullMQ's worker.close() waits for the jobs in hand). */
export const APP_STOP_TIMEOUT_MS = 20_000;
/** Overrides APP_STOP_TIMEOUT_MS for an orphaned app; it exists for tests, which cannot wait that long. */
export const ORPHAN_STOP_TIMEOUT_ENV = 'BILLING_ORPHAN_STOP_TIMEOUT_MS';
const CHECK_MS = 500;

const supervisorPid = Number(process.env[SUPERVISOR_PID_ENV]);
const stopTimeoutMs = Number(process.env[ORPHAN_STOP_TIMEOUT_ENV]) || APP_STOP_TIMEOUT_MS;
// Worker threads inherit --require; the main thread's check covers the whole process.
if (isMainThread && Number.isInteger(supervisorPid) && supervisorPid > 0) {
  const check = setInterval(() => {
    if (process.ppid === supervisorPid) return;
    clearInterval(check);
    process.kill(process.pid, 'SIGTERM');
    // Unref'd: a stop that finishes exits at once; only one that hangs meets this timer.
    setTimeout(() => {
      console.error(
        `[${process.title}] did not stop within ${stopTimeoutMs} ms of its supervisor's exit; exiting`,
      );
      process.exit(1);
    }, stopTimeoutMs).unref();
  }, CHECK_MS);
  // Never what keeps an app alive.
  check.unref();
}
