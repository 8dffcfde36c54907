import calculateSlot from 'cluster-key-slot';
import Redis from 'ioredis';
import { randomUUID } from 'node:crypto';
import { useClusterStack } from '../support/cluster-stack';
import { OwnRedisCluster } from '../support/redis-server';
import { waitFor } from '../support/wait-for';
import { Workspace } from '../support/workspace';

/** $1.00 per million tokens of every kind: an event costs one micro per token. */
const MODEL = 'openai/gpt-4o-mini';
const GRANT_MICROS = 10_000_000n;

/**
 * A Redis Cluster master dies and its replica takes over (the failover a managed Redis Cluster
 * does on a host failure). The killed master is the one holding the BullMQ queues, the worst
 * case: ingest cannot enqueue and the workers cannot fetch until the replica is promoted and the
 * clients have learned it. Everything it held had reached its replica before the kill (`WAIT`),
 * so nothing may be lost: requests refused meanwhile are retried as a gateway does, and the
 * totals end exact in Postgres and Redis. (Writes a master acknowledged but never replicated are
 * lost by any Redis failover; see README Durability.)
 */
describe('Redis Cluster: a master fails over to its replica', () => {
  const redisServer = new OwnRedisCluster({ replicas: true });
  const suite = useClusterStack(redisServer, MODEL);

  it('resumes metering on the promoted replica and ends exact, nothing lost or charged twice', async () => {
    const { stack } = suite;
    // The master of the queues' hash tag: every BullMQ key of the run is in its slot. At least
    // two accounts (their balances and pending batches, hash-tagged by account id) live there too.
    const queuesMaster = redisServer.masterOf(calculateSlot('{bull}'));
    const workspaces = await Promise.all(Array.from({ length: 6 }, () => Workspace.create(stack)));
    const onQueuesMaster = () =>
      workspaces.filter((ws) => redisServer.masterOf(calculateSlot(ws.accountId)) === queuesMaster).length;
    while (onQueuesMaster() < 2) workspaces.push(await Workspace.create(stack));
    for (const ws of workspaces) await stack.grant(ws.accountId, '10.00');
    const event = (index: number) => ({
      id: randomUUID(),
      account_id: workspaces[index % workspaces.length].accountId,
      model: MODEL,
      prompt_tokens: 100 + index,
      completion_tokens: 0,
    });
    const before = Array.from({ length: 300 }, (_, index) => event(index));
    const after = Array.from({ length: 300 }, (_, index) => event(300 + index));

    /** Sends 100 events per request until each is answered 202, as a gateway retries 503s and timeouts. */
    const send = async (events: typeof before) => {
      const answers: number[] = [];
      for (let start = 0; start < events.length; start += 100) {
        await waitFor(
          async () => {
            const response = await stack.gateway.post('/v1/usage/events', {
              events: events.slice(start, start + 100),
            });
            answers.push(response.status);
            return response.status;
          },
          (status) => status === 202,
          { timeoutMs: 60_000, intervalMs: 200, what: 'ingest to accept the request' },
        );
      }
      return answers;
    };

    expect(new Set(await send(before))).toEqual(new Set([202]));
    await stack.drained();

    const master = new Redis(queuesMaster.url);
    try {
      expect(await master.call('WAIT', '1', '5000')).toBe(1);
    } finally {
      master.disconnect();
    }
    await queuesMaster.kill();
    const replica = new Redis(redisServer.replicaOf(queuesMaster).url);

    // Sent at once: ingest answers 503 (or the request fails) until the replica is promoted.
    const answers = await send(after);
    expect(answers[answers.length - 1]).toBe(202);
    await stack.drained(90_000);
    try {
      expect(((await replica.call('ROLE')) as string[])[0]).toBe('master');
    } finally {
      replica.disconnect();
    }
    // Everything sent before the failover again: all duplicates, nothing charged twice.
    await send(before);
    await stack.drained(90_000);

    const postgres = await stack.stores.postgresBalances();
    const [{ count }] = await stack.stores.sql<{ count: number }[]>`
      select count(*)::int as count from usage_events
      where account_id = any(${workspaces.map((ws) => ws.accountId)}::uuid[])`;
    expect(count).toBe(before.length + after.length);
    for (const [index, ws] of workspaces.entries()) {
      const spent = [...before, ...after]
        .filter((usage) => usage.account_id === workspaces[index].accountId)
        .reduce((sum, usage) => sum + BigInt(usage.prompt_tokens), 0n);
      expect({ account: index, postgres: postgres.get(ws.accountId) }).toEqual({
        account: index,
        postgres: GRANT_MICROS - spent,
      });
      expect({ account: index, redis: await stack.stores.redisBalance(ws.accountId) }).toEqual({
        account: index,
        redis: GRANT_MICROS - spent,
      });
    }
    const reconcile = await stack.admin.post('/v1/admin/reconcile', {});
    expect(reconcile.status).toBe(200);
    expect(reconcile.body).toMatchObject({ drifted: 0, drift: '0.000000' });
  });
});
