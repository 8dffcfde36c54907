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
