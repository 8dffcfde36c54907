import Redis from 'ioredis';
import { randomUUID } from 'node:crypto';
import { useClusterStack } from '../support/cluster-stack';
import { OwnRedisCluster } from '../support/redis-server';
import { waitFor } from '../support/wait-for';
import { CreatedKey, Workspace } from '../support/workspace';

/** $1.00 per million tokens of every kind: an event costs one micro per token. */
const MODEL = 'openai/gpt-4o-mini';

/**
 * T6: the whole pipeline on a Redis Cluster of three masters, the apps connected with
 * REDIS_CLUSTER=true. A cluster refuses any script or multi-key command whose keys are in
 * different slots (CROSSSLOT) and a pipeline whose keys are on different nodes, so every Redis
 * path exercised here (ingest's dedupe markers and BullMQ's queue scripts, the worker's reserve
 * and settle per account with budget and key-spend counters, the alert email queue, authorize
 * and balance reads, key-spend counter creation, the reconciler) keeps each call within one hash
 * tag, and the calls of a batch that span accounts go to each node they belong to.
 */
describe('Redis Cluster: every script and command stays in one slot', () => {
  const redisServer = new OwnRedisCluster();
  const suite = useClusterStack(redisServer, MODEL);

  it('meters usage with budgets, key limits and duplicates exactly, and reconciles without drift', async () => {
    const { stack } = suite;
    const workspaces = await Promise.all(Array.from({ length: 4 }, () => Workspace.create(stack)));
    const keys: CreatedKey[] = [];
    for (const ws of workspaces) {
      await stack.grant(ws.accountId, '10.00');
      expect((await stack.admin.put(`${ws.path}/budget`, { amount: '0.05' })).status).toBe(200);
      keys.push(await ws.createKey({ limit: { amount: '1.00', period: 'daily' } }));
    }
    const event = (index: number, id = randomUUID()) => ({
      id,
      account_id: workspaces[index % 4].accountId,
      model: MODEL,
      prompt_tokens: 100 + index,
      completion_tokens: 0,
      api_key_id: keys[index % 4].id,
    });
    const events = Array.from({ length: 400 }, (_, index) => event(index));
    // Sent twice: the second time every event is a duplicate and nothing more is charged.
    for (const round of [0, 1]) {
      for (let start = 0; start < events.length; start += 100) {
        const response = await stack.gateway.post('/v1/usage/events', {
          events: events.slice(start, start + 100),
        });
        expect({ status: response.status, body: response.body }).toEqual({
          status: 202,
          body: round === 0 ? { accepted: 100, duplicates: 0 } : { accepted: 0, duplicates: 100 },
        });
      }
      await stack.drained();
    }

    const postgres = await stack.stores.postgresBalances();
    for (const [index, ws] of workspaces.entries()) {
      const spent = events
        .filter((_, position) => position % 4 === index)
        .reduce((sum, usage) => sum + BigInt(usage.prompt_tokens), 0n);
      expect(postgres.get(ws.accountId)).toBe(10_000_000n - spent);
      expect(await stack.stores.redisBalance(ws.accountId)).toBe(10_000_000n - spent);
      const balance = await stack.gateway.get(`${ws.path}/balance`);
      expect(balance.body.balance).toBe(`9.${String(1_000_000n - spent).padStart(6, '0')}`);
      const authorized = await stack.gateway.post('/v1/authorize', {
        account_id: ws.accountId,
        model: MODEL,
        api_key_id: keys[index].id,
      });
      expect(authorized.status).toBe(200);
      expect((await stack.admin.get(`${ws.path}/api-keys/${keys[index].id}`)).body.spend.spent).toBe(
        `0.${String(spent).padStart(6, '0')}`,
      );
    }

    // Each account spent about $0.025 of its $0.05 budget: the 50% alert, queued for its email.
    await waitFor(
      () =>
        stack.stores.sql<{ n: number }[]>`
          select count(*)::int as n from alerts
          where kind = 'budget_threshold' and account_id = any(${workspaces.map((ws) => ws.accountId)}::uuid[])`,
      (rows) => rows[0].n === 4,
      { what: 'a 50% budget alert per account' },
    );

    const reconcile = await stack.admin.post('/v1/admin/reconcile', {});
    expect(reconcile.status).toBe(200);
    expect(reconcile.body).toMatchObject({ drifted: 0, drift: '0.000000' });

    // The accounts' keys, the dedupe markers and the queues went to several nodes. Not
    // necessarily to all three: the slots are those of random account ids, about ten of them,
    // and one node gets none in a few percent of runs (which failed this test in CI); all on
    // one node has a chance of about 1 in 20,000.
    const nodesWithKeys: number[] = [];
    for (const [index, node] of redisServer.nodes.entries()) {
      const client = new Redis(node.url);
      try {
        const [, keys] = await client.scan('0', 'MATCH', `${stack.stores.prefix}:*`, 'COUNT', 100_000);
        if (keys.length > 0) nodesWithKeys.push(index);
      } finally {
        client.disconnect();
      }
    }
    expect(nodesWithKeys.length).toBeGreaterThanOrEqual(2);
  });
});
