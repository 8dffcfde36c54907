import { BillingStack } from '../support/billing-stack';

/** F2: each event is priced by the version in effect at its occurred_at, and that version is stored with it. */
describe('rating with versioned prices', () => {
  const stack = new BillingStack({ workers: 1 });
  let account: string;
  const model = 'deepseek/deepseek-chat';
  const minutesAgo = (minutes: number) => new Date(Date.now() - minutes * 60_000).toISOString();

  beforeAll(async () => {
    await stack.start();
    account = await stack.createAccount();
    await stack.grant(account, '100');
  });

  afterAll(() => stack.stop());

  it('prices events before and after a price change at their own versions, changed a moment before they arrive', async () => {
    await stack.admin.put(`/v1/admin/models/${encodeURIComponent(model)}`, {
      prompt_price_per_mtok: '1.00',
      completion_price_per_mtok: '2.00',
      effective_from: minutesAgo(60),
    });
    // Version 2 from ten minutes ago, sent right before the events that need it.
    const v2 = await stack.admin.put(`/v1/admin/models/${encodeURIComponent(model)}`, {
      prompt_price_per_mtok: '3.00',
      completion_price_per_mtok: '4.00',
      effective_from: minutesAgo(10),
    });
    expect(v2.body.version).toBe(2);
    const response = await stack.gateway.post('/v1/usage/events', {
      events: [
        {
          id: 'old',
          account_id: account,
          model,
          prompt_tokens: 1_000_000,
          completion_tokens: 1_000_000,
          occurred_at: minutesAgo(30),
        },
        {
          id: 'new',
          account_id: account,
          model,
          prompt_tokens: 1_000_000,
          completion_tokens: 1_000_000,
          occurred_at: minutesAgo(5),
        },
      ],
    });
    expect(response.status).toBe(202);
    await stack.drained();

    const rows = await stack.stores.sql<{ event_id: string; cost_micros: bigint; version: number }[]>`
      select e.event_id, e.cost_micros, p.version from usage_events e join model_prices p on p.id = e.price_version_id
      order by e.event_id`;
    expect(rows).toEqual([
      { event_id: 'new', cost_micros: 7_000_000n, version: 2 },
      { event_id: 'old', cost_micros: 3_000_000n, version: 1 },
    ]);
    expect(await stack.stores.redisBalance(account)).toBe(100_000_000n - 10_000_000n);
  });

  it('never re-prices usage already charged when a version is back-dated; late events get the new version', async () => {
    const send = (id: string, occurredAt: string) =>
      stack.gateway.post('/v1/usage/events', {
        events: [
          {
            id,
            account_id: account,
            model,
            prompt_tokens: 1_000_000,
            completion_tokens: 0,
            occurred_at: occurredAt,
          },
        ],
      });
    const twoMinutesAgo = minutesAgo(2);
    expect((await send('charged-before', twoMinutesAgo)).status).toBe(202);
    await stack.drained();
    const balanceBefore = await stack.stores.redisBalance(account);

    // Version 3 back-dated over the instant already charged at version 2 ($3.00 per million prompt tokens).
    const v3 = await stack.admin.put(`/v1/admin/models/${encodeURIComponent(model)}`, {
      prompt_price_per_mtok: '5.00',
      completion_price_per_mtok: '6.00',
      effective_from: minutesAgo(8),
    });
    expect(v3.body.version).toBe(3);
    expect((await send('late', twoMinutesAgo)).status).toBe(202);
    await stack.drained();

    const rows = await stack.stores.sql<{ event_id: string; cost_micros: bigint; version: number }[]>`
      select e.event_id, e.cost_micros, p.version from usage_events e join model_prices p on p.id = e.price_version_id
      where e.event_id in ('charged-before', 'late') order by e.event_id`;
    expect(rows).toEqual([
      { event_id: 'charged-before', cost_micros: 3_000_000n, version: 2 },
      { event_id: 'late', cost_micros: 5_000_000n, version: 3 },
    ]);
    expect(await stack.stores.redisBalance(account)).toBe(balanceBefore! - 5_000_000n);
    expect((await stack.stores.postgresBalances()).get(account)).toBe(balanceBefore! - 5_000_000n);
  });

  it('charges nothing for a free model and writes no ledger row for it', async () => {
    await stack.admin.put(`/v1/admin/models/${encodeURIComponent('meta-llama/llama-3.1-8b-instruct:free')}`, {
      prompt_price_per_mtok: '0',
      completion_price_per_mtok: '0',
    });
    const ledgerBefore = await stack.stores.sql`select count(*)::int as n from ledger_entries`;
    const before = await stack.stores.redisBalance(account);
    const response = await stack.gateway.post('/v1/usage/events', {
      events: [
        {
          id: 'free-1',
          account_id: account,
          model: 'meta-llama/llama-3.1-8b-instruct:free',
          prompt_tokens: 500,
          completion_tokens: 500,
        },
      ],
    });
    expect(response.body).toEqual({ accepted: 1, duplicates: 0 });
    await stack.drained();
    const [row] = await stack.stores.sql`select cost_micros from usage_events where event_id = 'free-1'`;
    expect(row.cost_micros).toBe(0n);
    expect(await stack.stores.redisBalance(account)).toBe(before);
    expect(await stack.stores.sql`select count(*)::int as n from ledger_entries`).toEqual(ledgerBefore);
  });
});
