import { autoReloadJobId, crossingOfAutoReloadJobId, newUsageBatchId } from './job-ids';

describe('newUsageBatchId', () => {
  it('mints unique ids that sort in the order they were minted, so ledger keys of later batches sort after', () => {
    const ids = Array.from({ length: 5_000 }, () => newUsageBatchId());
    const ledgerKeys = ids.map((id) => `usage:${id}:0b6f5a7e-2c1d-4e8f-9a3b-5c6d7e8f9a0b`);

    expect(new Set(ids).size).toBe(ids.length);
    expect([...ledgerKeys].sort()).toEqual(ledgerKeys);
    // A UUID, as the job id BullMQ takes (no ':') and the text Postgres stores.
    for (const id of ids)
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});

describe('autoReloadJobId', () => {
  it('names the crossing it was made for, read back from the id', () => {
    const id = autoReloadJobId('0b6f5a7e-2c1d-4e8f-9a3b-5c6d7e8f9a0b', 17);

    expect(id).toBe('auto-reload:0b6f5a7e-2c1d-4e8f-9a3b-5c6d7e8f9a0b:17');
    expect(crossingOfAutoReloadJobId(id)).toBe(17);
  });
});
