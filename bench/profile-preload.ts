/**
 * Preloaded (node --require) into apps when BENCH_PROFILE=1. Nest's shutdown hook re-raises
 * SIGTERM after closing the app, which would kill the process before --cpu-prof writes its
 * profile; this listener turns that second SIGTERM into a normal exit so the profile is saved.
 */
let seen = 0;
process.on('SIGTERM', () => {
  seen++;
  if (seen >= 2) process.exit(0);
  setTimeout(() => process.exit(0), 10_000).unref();
});
