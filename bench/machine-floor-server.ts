/**
 * The smallest server a read can be: node:http answering every request with one Redis HGET, over
 * a connection opened as the apps open theirs (openRedis). bench/lib/machine-floor.ts times it one
 * request at a time, for the floor of T4 on this machine: what a read costs with no framework,
 * auth, validation or catalog, only the two process hops a read cannot avoid.
 *
 *   FLOOR_PORT, REDIS_URL, FLOOR_KEY (a hash with a `bal` field)
 */
import { openRedis } from '@app/redis';
import { createServer } from 'node:http';

const redis = openRedis({
  REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  REDIS_CLUSTER: false,
});
const key = process.env.FLOOR_KEY ?? 'bench-floor';

const server = createServer((request, response) => {
  request.resume();
  redis.hget(key, 'bal').then(
    (balance) => {
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify({ balance }));
    },
    () => {
      response.statusCode = 503;
      response.end();
    },
  );
});
server.listen(Number(process.env.FLOOR_PORT), '127.0.0.1', () => process.stdout.write('listening\n'));
// Nothing to finish: the probe has its answers before it stops the server.
process.on('SIGTERM', () => process.exit(0));
