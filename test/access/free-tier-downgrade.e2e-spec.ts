import { randomUUID } from 'node:crypto';
import { BillingStack } from '../support/billing-stack';
import { expectChargedExactly, expectNothingReachedStores, takeSnapshot } from '../support/store-snapshot';
import { waitFor } from '../support/wait-for';
import { Workspace } from '../support/workspace';

const PAID_MODEL = 'anthropic/claude-3.5-haiku';
const GRANT_MICROS = 5_000_000n;
/** 1000 x $0.80/Mtok + 200 x $4.00/Mtok = $0.0016 */
const EVENT_COST_MICROS = 1_600n;

/**
 * A gateway buffers usage of requests that ran while an account was Developer and flushes it after
 * an admin moved the account to Free: that usage ran on a paid tier and is charged; only usage
 * that occurred on Free is refused.
 */
describe('usage of a paid model around a downgrade to Free', () => {
  const stack = new BillingStack({ workers: 1 });

  const paidEvent = (ws: Workspace, occurredAtMs: number) => ({
    id: randomUUID(),
    account_id: ws.accountId,
    model: PAID_MODEL,
    prompt_tokens: 1000,
    completion_tokens: 200,
    occurred_at: new Date(occurredAtMs).toISOString(),
  });
  const ingest = (events: unknown[]) => stack.gateway.post('/v1/usage/events', { events });

  async function developerWithCredits(): Promise<Workspace> {
    const ws = await Workspace.create(stack, 'developer');
    await stack.grant(ws.accountId, '5.00');
    return ws;
  }

  /** Moves the account to Free and waits until ingest's catalog has it; returns when it became Free. */
  async function downgradeToFree(ws: Workspace): Promise<number> {
    const response = await stack.admin.patch(`/v1/admin/accounts/${ws.accountId}`, { tier: 'free' });
    expect(response.status).toBe(200);
    expect(response.body.tier).toBe('free');
    // Ingest validates with the same in-process catalog as authorize: once authorize refuses, so would ingest.
    await waitFor(
      () => stack.gateway.post('/v1/authorize', { account_id: ws.accountId, model: PAID_MODEL }),
      (refused) => refused.status === 402 && refused.body.reason === 'model_not_allowed_on_free_tier',
      { timeoutMs: 2000, intervalMs: 10, what: 'the downgrade to reach ingest' },
    );
    return Date.parse(response.body.tier_changed_at);
  }

  beforeAll(async () => {
    await stack.start();
    await stack.setPrice(PAID_MODEL, '0.80', '4.00');
  });

  afterAll(() => stack.stop());

  it('accepts and charges a paid-model event that occurred before the downgrade, with the rest of its batch', async () => {
    const downgraded = await developerWithCredits();
    const other = await developerWithCredits();
    const freeSince = await downgradeToFree(downgraded);
    const before = paidEvent(downgraded, freeSince - 1);

    const response = await ingest([paidEvent(other, Date.now()), before]);

    expect({ status: response.status, body: response.body }).toEqual({
      status: 202,
      body: { accepted: 2, duplicates: 0 },
    });
    await stack.drained();
    await expectChargedExactly(stack, downgraded.accountId, GRANT_MICROS, EVENT_COST_MICROS);
    await expectChargedExactly(stack, other.accountId, GRANT_MICROS, EVENT_COST_MICROS);
    const stored = await stack.stores.sql<{ cost_micros: bigint }[]>`
      select cost_micros from usage_events where event_id = ${before.id}`;
    expect(stored).toEqual([{ cost_micros: EVENT_COST_MICROS }]);
    expect((await stack.gateway.get(`${downgraded.path}/balance`)).body.balance).toBe('4.998400');
  });

  it('answers a retry of a batch accepted before the downgrade as duplicates, charging nothing again', async () => {
    const downgraded = await developerWithCredits();
    const batch = [paidEvent(downgraded, Date.now())];
    expect((await ingest(batch)).status).toBe(202);
    await stack.drained();
    await downgradeToFree(downgraded);

    const retry = await ingest(batch);

    expect({ status: retry.status, body: retry.body }).toEqual({
      status: 202,
      body: { accepted: 0, duplicates: 1 },
    });
    await stack.drained();
    await expectChargedExactly(stack, downgraded.accountId, GRANT_MICROS, EVENT_COST_MICROS);
  });

  it('refuses with 422 a batch holding a paid-model event that occurred after the downgrade, storing none of it', async () => {
    const downgraded = await developerWithCredits();
    const other = await developerWithCredits();
    const freeSince = await downgradeToFree(downgraded);
    const snapshot = await takeSnapshot(stack);

    const response = await ingest([paidEvent(other, Date.now()), paidEvent(downgraded, freeSince)]);

    expect(response.status).toBe(422);
    expect(response.body.errors).toEqual([
      expect.objectContaining({ index: 1, field: 'model', code: 'model_not_allowed_on_free_tier' }),
    ]);
    await expectNothingReachedStores(stack, snapshot);
  });

  it('keeps the time of the downgrade when a later change leaves the tier Free', async () => {
    const downgraded = await developerWithCredits();
    const freeSince = await downgradeToFree(downgraded);

    const renamed = await stack.admin.patch(`/v1/admin/accounts/${downgraded.accountId}`, {
      name: 'renamed',
      tier: 'free',
    });

    expect(renamed.status).toBe(200);
    expect(Date.parse(renamed.body.tier_changed_at)).toBe(freeSince);
    // Usage between the downgrade and the later change occurred on Free: still refused.
    const response = await ingest([paidEvent(downgraded, Date.now())]);
    expect(response.status).toBe(422);
    expect(response.body.errors).toEqual([
      expect.objectContaining({ code: 'model_not_allowed_on_free_tier' }),
    ]);
  });
});
