import { join } from 'node:path';
import { once } from 'node:events';
import { HttpClient } from './http-client';
import { freePort, spawnNode } from './stack';
import { summarize } from './util';

/** Compiled to dist/bench/lib/, beside which the server is dist/bench/. */
const SERVER = join(__dirname, '..', 'machine-floor-server.js');

/**
 * The floor of a read on this machine (T4): `count` requests one at a time to
 * bench/machine-floor-server (node:http and one Redis HGET, nothing else), after `warmup` untimed
 * ones. Taken beside the idle authorize and balance probes, it tells what the apps add from what
 * the machine's scheduling costs any request that crosses three processes.
 */
export async function runMachineFloorProbe(
  redisUrl: string,
  key: string,
  count = 700,
  warmup = 300,
): Promise<ReturnType<typeof summarize>> {
  const port = await freePort();
  const server = spawnNode(SERVER, { REDIS_URL: redisUrl, FLOOR_KEY: key, FLOOR_PORT: String(port) });
  const exited = once(server, 'exit');
  try {
    // Listening, or gone (a port taken since freePort): then say so instead of waiting forever.
    const first = await Promise.race([
      once(server.stdout!, 'data').then(() => 'listening'),
      exited.then(() => 'exited'),
    ]);
    if (first === 'exited') throw new Error(`the machine-floor server exited with ${server.exitCode}`);
    const client = new HttpClient(`http://127.0.0.1:${port}`, 'none', 1);
    const times: number[] = [];
    for (let i = 0; i < warmup + count; i++) times.push((await client.send('GET', '/')).ms);
    client.close();
    return summarize(times.slice(warmup));
  } finally {
    server.kill('SIGTERM');
    await exited;
  }
}
