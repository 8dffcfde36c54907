import { JobName, MeterUsageBatchPayload, newUsageBatchId, QUEUE_SETTINGS, QueueName } from '@app/queue';
import { Queue } from 'bullmq';
import { BillingStack } from '../support/billing-stack';
import { expectChargedExactly } from '../support/store-snapshot';
import { expectedCostMicros, seededRandom, TestEvent, usageEvent } from '../support/usage-events';

const MODEL = 'anthropic/claude-3.5-haiku';
const PRICES = { prompt: 800_000n, completion: 4_000_000n, cached: 800_000n, reasoning: 4_000_000n };
const GRANT = 10_000_000n;
const BATCHES = 3;

/**
 * A queued batch whose metadata Postgres cannot store as jsonb (ingest refuses such events now;
 * a job queued before it did, or by anything else, may still carry one). Charged in a group, it
 * failed the group's one transaction on every retry, and with it the other batches. Its events
 * were accepted: they are charged like any other, and the metadata Postgres cannot hold is left out.
 */
describe('a queued usage batch with metadata Postgres cannot store', () => {
  // Three batches at most per group, and a long linger: the three jobs added at once would be one group.
  const stack = new BillingStack({
    workers: 1,
    workerEnv: { USAGE_BATCHES_PER_GROUP: String(BATCHES), USAGE_GROUP_LINGER_MS: '1000' },
  });
  const accounts: string[] = [];
  let queue: Queue<MeterUsageBatchPayload>;

  beforeAll(async () => {
    await stack.start();
    await stack.setPrice(MODEL, '0.80', '4.00');
    for (let i = 0; i < 3; i++) accounts.push(await stack.createAccount());
    for (const id of accounts) await stack.grant(id, '10');
    queue = new Queue(QueueName.Usage, { connection: stack.stores.redis, prefix: stack.stores.bullPrefix });
  }, 120_000);

  afterAll(async () => {
    await queue.close();
    await stack.stop();
  });

  /** A batch as ingest queues it (occurred_at in epoch ms, every token kind present). */
  function batchOf(events: (TestEvent & { metadata?: Record<string, unknown> })[]): MeterUsageBatchPayload {
    return {
      batchId: newUsageBatchId(),
      receivedAt: Date.now(),
      events: events.map((event) => ({
        ...event,
        cached_tokens: event.cached_tokens ?? 0,
        reasoning_tokens: event.reasoning_tokens ?? 0,
        occurred_at: Date.now() - 60_000,
      })),
    };
  }

  it('charges every batch of the group once, storing that event without its metadata', async () => {
    const [a, b, c] = accounts;
    const random = seededRandom(5);
    const good = [
      Array.from({ length: 20 }, () => usageEvent(a, MODEL, random)),
      Array.from({ length: 20 }, () => usageEvent(b, MODEL, random)),
    ];
    const labelled = { ...usageEvent(a, MODEL, random), metadata: { route: '/v1/chat' } };
    const unstorable = {
      ...usageEvent(c, MODEL, random),
      metadata: { note: 'a\u0000b', nested: [{ ok: '\ud800' }] },
    };
    const batches = [batchOf(good[0]), batchOf([labelled, unstorable]), batchOf(good[1])];
    await queue.addBulk(
      batches.map((batch) => ({
        name: JobName.MeterUsageBatch,
        data: batch,
        opts: { ...QUEUE_SETTINGS[QueueName.Usage].jobOptions, jobId: batch.batchId },
      })),
    );
    await stack.drained(30_000);

    expect(await queue.getFailedCount()).toBe(0);
    const stored = await stack.stores.sql<{ event_id: string; batch_id: string; metadata: unknown }[]>`
      select event_id, batch_id, metadata from usage_events`;
    const all = [...good.flat(), labelled, unstorable];
    expect(stored.map((row) => row.event_id).sort()).toEqual(all.map((event) => event.id).sort());
    // One group: before, this transaction failed on every retry.
    expect(new Set(stored.map((row) => row.batch_id)).size).toBe(1);
    const metadataOf = new Map(stored.map((row) => [row.event_id, row.metadata]));
    expect(metadataOf.get(labelled.id)).toEqual({ route: '/v1/chat' });
    expect(metadataOf.get(unstorable.id)).toBeNull();

    const cost = (events: TestEvent[]) =>
      events.reduce((sum, event) => sum + expectedCostMicros(event, PRICES), 0n);
    await expectChargedExactly(stack, a, GRANT, cost([...good[0], labelled]));
    await expectChargedExactly(stack, b, GRANT, cost(good[1]));
    await expectChargedExactly(stack, c, GRANT, cost([unstorable]));
  });
});
