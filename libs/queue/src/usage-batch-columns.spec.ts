import { MeterUsageBatchPayload, UsageEventPayload } from './job-payloads';
import { columnsOfUsageBatch, usageBatchColumns, usageEventAt } from './usage-batch-columns';

const ALICE = '018f0000-0000-7000-8000-000000000001';
const BOB = '018f0000-0000-7000-8000-000000000002';

const events: UsageEventPayload[] = [
  {
    id: 'e1',
    account_id: ALICE,
    model: 'meta-llama/llama-3.1-8b-instruct:free',
    prompt_tokens: 10,
    completion_tokens: 20,
    cached_tokens: 0,
    reasoning_tokens: 0,
    api_key_id: 'key-1',
    occurred_at: 1_764_000_000_000,
  },
  {
    id: 'e2',
    account_id: BOB,
    model: 'openai/gpt-4o',
    prompt_tokens: 1_000_000_000,
    completion_tokens: 0,
    cached_tokens: 5,
    reasoning_tokens: 7,
    project_id: 'proj-1',
    occurred_at: 1_764_000_000_001,
    metadata: { route: 'chat', nested: { a: [1, 2] } },
  },
  {
    id: 'e3',
    account_id: ALICE,
    model: 'meta-llama/llama-3.1-8b-instruct:free',
    prompt_tokens: 1,
    completion_tokens: 2,
    cached_tokens: 0,
    reasoning_tokens: 0,
    api_key_id: 'key-1',
    project_id: 'proj-1',
    occurred_at: 1_764_000_000_002,
  },
];

/** The queued form of a usage batch: what ingest writes, what the worker reads. */
describe('usage batch columns', () => {
  it('hold the same events, in order, through the queue', () => {
    const queued = JSON.parse(JSON.stringify(usageBatchColumns(events)));
    const columns = columnsOfUsageBatch({ batchId: 'b', receivedAt: 1, columns: queued })!;
    expect(events.map((_, i) => usageEventAt(columns, i))).toEqual(events);
  });

  it('name each account, model, key and project once', () => {
    const columns = usageBatchColumns(events);
    expect(columns.accounts).toEqual([ALICE, BOB]);
    expect(columns.account).toEqual([0, 1, 0]);
    expect(columns.models).toHaveLength(2);
    expect(columns.apiKey).toEqual([0, -1, 0]);
    expect(columns.project).toEqual([-1, 0, 0]);
    expect(columns.metadata).toEqual([null, events[1].metadata, null]);
    expect(usageBatchColumns([events[0]]).metadata).toBeUndefined();
  });

  it('take about a third of the bytes of the same events as objects', () => {
    const many = Array.from({ length: 500 }, (_, i) => ({ ...events[i % 3], id: `event-${i}` }));
    const asColumns = JSON.stringify(usageBatchColumns(many)).length;
    expect(asColumns).toBeLessThan(JSON.stringify(many).length / 2);
  });

  it('are read from a batch queued as objects by an older ingest', () => {
    const columns = columnsOfUsageBatch({ batchId: 'b', receivedAt: 1, events })!;
    expect(events.map((_, i) => usageEventAt(columns, i))).toEqual(events);
  });

  it('are refused when not whole', () => {
    const whole = usageBatchColumns(events);
    const broken: Array<Partial<Record<keyof typeof whole, unknown>>> = [
      { id: undefined },
      { promptTokens: [1, 2] },
      { account: [0, 2, 0] },
      { model: [0, -1, 0] },
      { apiKey: [0, 1, 0] },
      { projects: undefined },
      { metadata: [null] },
    ];
    for (const change of broken) {
      const payload = {
        batchId: 'b',
        receivedAt: 1,
        columns: { ...whole, ...change },
      } as MeterUsageBatchPayload;
      expect(columnsOfUsageBatch(payload)).toBeNull();
    }
    expect(columnsOfUsageBatch({ batchId: 'b', receivedAt: 1 })).toBeNull();
    expect(columnsOfUsageBatch(undefined)).toBeNull();
  });
});
