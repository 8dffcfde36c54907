import { RatedEvent } from '../usage-batch.repository';
import { mergeBatches } from './merge-batches';

function event(accountId: string, eventId: string, costMicros: bigint): RatedEvent {
  return {
    accountId,
    eventId,
    apiKeyId: null,
    projectId: null,
    modelId: 'm',
    promptTokens: 1,
    completionTokens: 1,
    cachedTokens: 0,
    reasoningTokens: 0,
    costMicros,
    priceVersionId: 1,
    metadata: null,
    occurredAtMs: 0,
    receivedAtMs: 0,
  };
}

describe('mergeBatches', () => {
  it("keeps the batches' order and each (account, event id) once, the first, under the group id", () => {
    const merged = mergeBatches('group-1', [
      { batchId: 'b1', events: [event('a', 'e1', 5n), event('b', 'e1', 7n)] },
      { batchId: 'b2', events: [event('a', 'e1', 9n), event('a', 'e2', 3n)] },
    ]);
    expect(merged.batchId).toBe('group-1');
    expect(merged.events.map((e) => [e.accountId, e.eventId, e.costMicros])).toEqual([
      ['a', 'e1', 5n],
      ['b', 'e1', 7n],
      ['a', 'e2', 3n],
    ]);
  });
});
