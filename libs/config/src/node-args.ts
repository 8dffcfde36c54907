/**
 * V8 flags the usage worker is started with (npm start, docker-compose.yml, the bench).
 *
 * Without a limit V8 sizes the old generation against the machine's memory (a 4 GiB heap limit
 * on this 24 GiB machine) and, at a usage batch's allocation rate, lets 150-200 MiB of garbage
 * pile up between full collections: 370-400 MiB RSS per worker at full load (T5 asks for under
 * 300). With a 256 MiB old-space limit V8 collects sooner: about 200 MiB RSS for about 0.06 more
 * cores per worker (bench runs of 2026-11-27). The live heap stays far below the limit: the
 * same load ran with a 160 MiB limit.
 */
export const USAGE_WORKER_NODE_ARGS: readonly string[] = ['--max-old-space-size=256'];

/**
 * Environment the usage worker is started with (npm start, docker-compose.yml, the bench).
 *
 * glibc gives threads that allocate at once arenas of their own, up to 8 per core, and returns
 * little of them: V8's garbage-collection helpers and libuv's pool kept 38-56 MiB of the worker's
 * memory outside its heap at full load. With 2 arenas that was 28 MiB in every run, for the same
 * CPU and throughput (bench runs of 2026-12-05, the heap's size read from /metrics beside each
 * RSS): about 10 MiB of T5's margin. A value the caller sets wins; musl-based images ignore it.
 */
export const USAGE_WORKER_ENV: Readonly<Record<string, string>> = {
  MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? '2',
};

/**
 * V8 flags ingest is started with (npm start, docker-compose.yml, the bench). Without a limit its
 * old generation grew from about 40 to 170 MB of promoted garbage between full collections: 323-332
 * MiB RSS at full load, and young-generation pauses that grow with it (5-7 ms each on idle reads
 * against about 3 ms with a cap). With 192 MB: 189 MiB RSS at full load, same throughput (bench of
 * 2026-12-04). The cap is safe because ingest bounds the request bodies it holds
 * (INGEST_MAX_BODY_BYTES_IN_FLIGHT): 200 concurrent 0.9 MB batches peaked at 242 MiB RSS even under a
 * 128 MB cap. A larger budget, or a much larger catalog (accounts, keys), needs a larger cap.
 */
export const INGEST_NODE_ARGS: readonly string[] = ['--max-old-space-size=192'];
