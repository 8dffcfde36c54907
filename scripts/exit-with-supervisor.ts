/**
 * Preloaded (`node --require`) into every process scripts/start-all runs. A supervisor that dies
 * without stopping its apps (SIGKILL, the OOM killer) would leave them running under init,
 * holding their ports, and the next `npm start` would crash-loop on them. So each app watches
 * for its parent to change and then stops itself as SIGTERM stops it: gracefully.
 */
import { isMainThread } from 'node:worker_threads';

/** Set by start-all to its pid; unset (Docker, production, tests), this module does nothing. */
export const SUPERVISOR_PID_ENV = 'BILLING_SUPERVISOR_PID';
const CHECK_MS = 500;

const supervisorPid = Number(process.env[SUPERVISOR_PID_ENV]);
// Worker threads inherit --require; the main thread's check covers the whole process.
if (isMainThread && Number.isInteger(supervisorPid) && supervisorPid > 0) {
  const check = setInterval(() => {
    if (process.ppid === supervisorPid) return;
    clearInterval(check);
    process.kill(process.pid, 'SIGTERM');
  }, CHECK_MS);
  // Never what keeps an app alive.
  check.unref();
}
