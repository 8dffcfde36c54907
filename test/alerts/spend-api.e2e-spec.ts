import { randomUUID } from 'node:crypto';
import { RedisKeys } from '@app/redis';
import { BillingStack } from '../support/billing-stack';
import { Workspace } from '../support/workspace';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/**
 * GET /v1/accounts/:id/spend (issue 6, judged e): burn rates, run-out dates and the month-end
 * projection for a synthetic usage history (ledger rows with chosen timestamps), checked against
 * figures computed by hand in this file.
 */
describe('spend API', () => {
  const stack = new BillingStack();

  beforeAll(() => stack.start(), 120_000);
  afterAll(() => stack.stop());

  /** Usage debits `ago` ms before now, plus a grant, written as the pipeline would (ledger + balance). */
  async function history(accountId: string, grantMicros: bigint, usage: [agoMs: number, micros: bigint][]) {
    const now = Date.now();
    const { sql } = stack.stores;
    let total = 0n;
    for (const [index, [ago, amount]] of usage.entries()) {
      total += amount;
      await sql`
        insert into ledger_entries (account_id, kind, amount_micros, idempotency_key, source, created_at)
        values (${accountId}, 'usage', ${-amount}, ${`usage:synthetic-${index}:${accountId}`}, '{}'::jsonb,
                ${new Date(now - ago)})`;
    }
    await sql`
      insert into ledger_entries (account_id, kind, amount_micros, idempotency_key, source, created_at)
      values (${accountId}, 'grant', ${grantMicros}, ${`grant:synthetic:${accountId}`}, '{}'::jsonb, ${new Date(now - 40 * DAY)})`;
    await sql`
      update account_balances set balance_micros = balance_micros + ${grantMicros - total}
      where account_id = ${accountId} and shard = 0`;
    return now;
  }

  it('matches hand-computed burn rates, run-out dates and month-end spend', async () => {
    const ws = await Workspace.create(stack);
    // Last 24 h: $3.00 (1 h ago). Last 7 days: + $4.00 (30 h ago) + $7.00 (3 days ago) = $14.00.
    // 8 days ago: $100 (outside 7 days). 45 days ago: $500 (outside this month and 7 days).
    // Granted $634.00: balance = 634 - 614 = $20.00.
    await history(ws.accountId, 634_000_000n, [
      [1 * HOUR, 3_000_000n],
      [30 * HOUR, 4_000_000n],
      [3 * DAY, 7_000_000n],
      [8 * DAY, 100_000_000n],
      [45 * DAY, 500_000_000n],
    ]);
    await stack.admin.put(`${ws.path}/budget`, { amount: '150.00' });

    const response = await stack.admin.get(`${ws.path}/spend`);
    expect(response.status).toBe(200);
    const body = response.body;
    const asOf = new Date(body.as_of);

    // By hand: rates $3.00/day (24 h) and $14.00 / 7 = $2.00/day (7 days).
    expect(body.balance).toBe('20.000000');
    expect(body.burn_rate_24h).toBe('3.000000');
    expect(body.burn_rate_7d).toBe('2.000000');
    // $20 at $2/day = 10 days; at $3/day = 6 days 16 hours.
    expect(body.runs_out_at).toBe(new Date(asOf.getTime() + 10 * DAY).toISOString());
    expect(body.runs_out_at_24h).toBe(new Date(asOf.getTime() + 6 * DAY + 16 * HOUR).toISOString());

    // This month: the entries from this calendar month (UTC) only.
    const monthStart = Date.UTC(asOf.getUTCFullYear(), asOf.getUTCMonth(), 1);
    const monthEnd = Date.UTC(asOf.getUTCFullYear(), asOf.getUTCMonth() + 1, 1);
    let mtd = 0;
    for (const [ago, usd] of [
      [1 * HOUR, 3],
      [30 * HOUR, 4],
      [3 * DAY, 7],
      [8 * DAY, 100],
      [45 * DAY, 500],
    ]) {
      if (asOf.getTime() - ago >= monthStart) mtd += usd;
    }
    expect(body.period).toEqual({
      id: asOf.toISOString().slice(0, 7),
      start: new Date(monthStart).toISOString(),
      end: new Date(monthEnd).toISOString(),
    });
    expect(body.spend).toBe(`${mtd}.000000`);
    // Month end: mtd + $2/day x days left, in micros, half up: 2,000,000 x ms left / 86,400,000.
    const leftMs = BigInt(monthEnd - asOf.getTime());
    const added = (2n * 2_000_000n * leftMs + 86_400_000n) / (2n * 86_400_000n);
    const projected = BigInt(mtd) * 1_000_000n + added;
    expect(body.projected_month_end_spend).toBe(
      `${projected / 1_000_000n}.${String(projected % 1_000_000n).padStart(6, '0')}`,
    );
    expect(body.budget).toBe('150.000000');
    expect(body.percent_used).toBe(((mtd / 150) * 100).toFixed(2));
  });

  it('counts a debit committed by a batch that started after the request, in the spend as in the balance', async () => {
    const ws = await Workspace.create(stack);
    // created_at is a transaction's start: a batch that began after the request read its clock
    // and committed before its query is visible to the balance with a later timestamp.
    await history(ws.accountId, 10_000_000n, [[-5_000, 2_000_000n]]);
    const body = (await stack.admin.get(`${ws.path}/spend`)).body;
    expect(body).toMatchObject({ balance: '8.000000', spend: '2.000000', burn_rate_24h: '2.000000' });
  });

  it('projects an account on invoice billing down to its credit limit, not to zero', async () => {
    const ws = await Workspace.create(stack, 'enterprise');
    const terms = await stack.admin.put(`/v1/admin/accounts/${ws.accountId}/invoice-billing`, {
      payment_terms_days: 30,
      credit_limit: '100.00',
    });
    expect(terms.status).toBe(200);
    // Granted $10, used $3 (1 h ago) + $30 (3 days ago): balance -$23, $77 left above -$100.
    await history(ws.accountId, 10_000_000n, [
      [1 * HOUR, 3_000_000n],
      [3 * DAY, 30_000_000n],
    ]);
    const response = await stack.admin.get(`${ws.path}/spend`);
    expect(response.status).toBe(200);
    const body = response.body;
    const asOf = new Date(body.as_of).getTime();
    expect(body.balance).toBe('-23.000000');
    // $77 at $33 / 7 days = 16 days 8 hours; at $3/day = 25 days 16 hours (not "now").
    expect(body.runs_out_at).toBe(new Date(asOf + 16 * DAY + 8 * HOUR).toISOString());
    expect(body.runs_out_at_24h).toBe(new Date(asOf + 25 * DAY + 16 * HOUR).toISOString());
  });

  it('has no run-out date without usage, and lists key and project budgets with their spend', async () => {
    const ws = await Workspace.create(stack);
    await stack.grant(ws.accountId, '5.00');
    const key = await ws.createKey();
    const project = await ws.createProject();
    await stack.admin.put(`${ws.path}/api-keys/${key.id}/budget`, { amount: '1.00' });
    await stack.admin.put(`${ws.path}/projects/${project}/budget`, { amount: '2.00', thresholds: [100] });
    const body = (await stack.admin.get(`${ws.path}/spend`)).body;
    expect(body).toMatchObject({
      balance: '5.000000',
      spend: '0.000000',
      budget: null,
      percent_used: null,
      burn_rate_24h: '0.000000',
      burn_rate_7d: '0.000000',
      runs_out_at: null,
      runs_out_at_24h: null,
      projected_month_end_spend: '0.000000',
    });
    expect(body.budgets).toEqual(
      expect.arrayContaining([
        {
          id: expect.any(String),
          scope: 'api_key',
          scope_id: key.id,
          amount: '1.000000',
          spend: '0.000000',
          percent_used: '0.00',
        },
        {
          id: expect.any(String),
          scope: 'project',
          scope_id: project,
          amount: '2.000000',
          spend: '0.000000',
          percent_used: '0.00',
        },
      ]),
    );
  });

  it('answers 404 account_not_found on the budget, alert-settings and spend routes of an unknown account, storing nothing', async () => {
    const unknown = randomUUID();
    const path = `/v1/accounts/${unknown}`;
    const budget = { amount: '10.00' };
    const calls: [string, string, unknown?][] = [
      ['get', `${path}/budget`],
      ['put', `${path}/budget`, budget],
      ['delete', `${path}/budget`],
      ['get', `${path}/api-keys/${randomUUID()}/budget`],
      ['put', `${path}/api-keys/${randomUUID()}/budget`, budget],
      ['delete', `${path}/api-keys/${randomUUID()}/budget`],
      ['get', `${path}/projects/${randomUUID()}/budget`],
      ['put', `${path}/projects/${randomUUID()}/budget`, budget],
      ['delete', `${path}/projects/${randomUUID()}/budget`],
      ['get', `${path}/alert-settings`],
      ['put', `${path}/alert-settings`, { low_balance: '5.00', non_essential_enabled: true }],
      ['get', `${path}/spend`],
    ];
    const answers = [];
    for (const [method, url, body] of calls) {
      const response =
        method === 'put'
          ? await stack.admin.put(url, body)
          : method === 'delete'
            ? await stack.admin.delete(url)
            : await stack.admin.get(url);
      answers.push([method, url, response.status, response.body?.error?.code]);
    }
    expect(answers).toEqual(calls.map(([method, url]) => [method, url, 404, 'account_not_found']));

    const { sql, redis, prefix } = stack.stores;
    const rows = await sql`
      select 'budgets' from budgets where account_id = ${unknown}
      union all select 'alert_settings' from alert_settings where account_id = ${unknown}
      union all select 'audit_log' from audit_log where account_id = ${unknown}`;
    expect(rows).toHaveLength(0);
    expect(await redis.exists(new RedisKeys(prefix).balance(unknown))).toBe(0);
  });
});
