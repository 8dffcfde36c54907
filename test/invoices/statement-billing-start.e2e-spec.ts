import { randomUUID } from 'node:crypto';
import { BillingStack } from '../support/billing-stack';
import {
  backdateInvoiceBilling,
  centsHalfUp,
  chargeUsage,
  DAY,
  isoDay,
  monthOf,
  monthStart,
  usd,
} from '../support/statement-usage';
import { Workspace } from '../support/workspace';

const MODEL = 'acme/start-model';
const OTHER = 'acme/start-other';

/**
 * A statement bills the usage charged while the account was on invoice billing, exactly once, and
 * never usage charged while it was prepaid: credits paid for that, and billing it again would
 * charge the customer twice (tax included). Usage is charged when the worker stores it
 * (usage_events.persisted_at), whatever its occurred_at.
 *
 * The months needed have ended and ingest refuses events older than 35 days, so usage is written
 * as the usage worker writes it (event, ledger debit, balance) with chosen timestamps, and the
 * switches made through the API are dated back as only the clock could.
 */
describe('usage statements: only usage charged on invoice billing', () => {
  const stack = new BillingStack({ workers: 1, workerEnv: { INVOICE_STATEMENT_INTERVAL_MS: '0' } });
  const now = Date.now();
  const fourMonthsAgo = monthStart(now, -4);
  const threeMonthsAgo = monthStart(now, -3);
  const twoMonthsAgo = monthStart(now, -2);
  const lastMonth = monthStart(now, -1);

  beforeAll(() => stack.start(), 120_000);
  afterAll(() => stack.stop());

  const switchOn = async (ws: Workspace) => {
    const response = await stack.admin.put(`/v1/admin/accounts/${ws.accountId}/invoice-billing`, {
      payment_terms_days: 30,
      credit_limit: '1000.00',
    });
    expect(response.status).toBe(200);
  };
  /** Usage of `micros` that occurred at `at` and was charged then (or at `chargedAt`). */
  const charge = (ws: Workspace, model: string, at: number, micros: bigint, chargedAt = at) =>
    chargeUsage(stack, stack.stores.sql, ws.accountId, model, at, micros, chargedAt);
  const run = (ws: Workspace, month: number) =>
    stack.admin.post('/v1/admin/invoice-statements/run', { month: monthOf(month), account_id: ws.accountId });
  const statements = async (ws: Workspace) => {
    const rows = await stack.stores.sql<{ id: string; month: string }[]>`
      select id, to_char(period_start, 'YYYY-MM') as month from invoices
      where account_id = ${ws.accountId} and kind = 'usage_statement' order by period_start`;
    return Promise.all(
      rows.map(async (row) => (await stack.admin.get(`${ws.path}/invoices/${row.id}`)).body),
    );
  };
  /** The exact usage (micros) each statement rated, from its ledger adjustment. */
  const ratedUsage = async (ws: Workspace) => {
    const rows = await stack.stores.sql<{ month: string; usage: string }[]>`
      select source->>'month' as month, source->>'usage_micros' as usage from ledger_entries
      where account_id = ${ws.accountId} and kind = 'adjustment' and source->>'reason' = 'usage_statement'
      order by 1`;
    return rows.map((row) => ({ month: row.month, usage: BigInt(row.usage) }));
  };
  const line = (model: string, month: number, micros: bigint, late: boolean) =>
    expect.objectContaining({
      model,
      description: `${model}: usage ${isoDay(month)} to ${isoDay(monthStart(month, 1) - DAY)}${
        late ? ' not on an earlier statement' : ''
      }`,
      amount: usd(centsHalfUp(micros)),
    });

  it('switched off and on again: the next statement bills none of the prepaid months, only usage since', async () => {
    const ws = await Workspace.create(stack, 'enterprise');
    await switchOn(ws);
    await backdateInvoiceBilling(stack, ws.accountId, fourMonthsAgo);
    await charge(ws, MODEL, fourMonthsAgo + 9 * DAY, 1_000_003n);
    expect((await run(ws, fourMonthsAgo)).status).toBe(200);
    const [first] = await statements(ws);
    expect(first.lines).toEqual([line(MODEL, fourMonthsAgo, 1_000_003n, false)]);

    // Paid; back to prepaid (a balance of zero); credits bought and spent for two months and the
    // first days of the next.
    const paid = await stack.admin.post(
      `/v1/admin/invoices/${first.id}/payments`,
      {},
      { 'idempotency-key': randomUUID() },
    );
    expect(paid.status).toBe(200);
    expect((await stack.admin.delete(`/v1/admin/accounts/${ws.accountId}/invoice-billing`)).status).toBe(200);
    await stack.grant(ws.accountId, '50.00');
    await charge(ws, MODEL, threeMonthsAgo + 4 * DAY, 2_000_000n);
    await charge(ws, OTHER, twoMonthsAgo + 19 * DAY, 3_000_000n);
    await charge(ws, MODEL, lastMonth + DAY, 4_000_000n);

    // On invoice billing again from the 5th of last month.
    await switchOn(ws);
    const since = lastMonth + 4 * DAY;
    await backdateInvoiceBilling(stack, ws.accountId, since);
    await charge(ws, MODEL, lastMonth + 9 * DAY, 5_000_001n);
    await charge(ws, OTHER, lastMonth + 19 * DAY, 600_000n);
    // Sent late, after the switch: usage of the month before, charged on invoice billing.
    await charge(ws, MODEL, lastMonth - DAY, 700_000n, since + DAY);

    expect((await run(ws, lastMonth)).status).toBe(200);
    const [, second] = await statements(ws);
    expect(second.period.start).toBe(isoDay(lastMonth));
    expect(second.lines).toEqual([
      line(MODEL, lastMonth, 5_000_001n, false),
      line(OTHER, lastMonth, 600_000n, false),
      line(MODEL, twoMonthsAgo, 700_000n, true),
    ]);
    expect(second.subtotal).toBe(
      usd(centsHalfUp(5_000_001n) + centsHalfUp(600_000n) + centsHalfUp(700_000n)),
    );
    // Exactly the usage charged on invoice billing, each event once.
    expect(await ratedUsage(ws)).toEqual([
      { month: monthOf(fourMonthsAgo), usage: 1_000_003n },
      { month: monthOf(lastMonth), usage: 5_000_001n + 600_000n + 700_000n },
    ]);
  });

  it('switched on mid-month: no statement of the month before, and only usage from the switch on', async () => {
    const ws = await Workspace.create(stack, 'enterprise');
    await stack.grant(ws.accountId, '50.00');
    // Prepaid: the month before and the first days of last month.
    await charge(ws, MODEL, twoMonthsAgo + 14 * DAY, 1_500_000n);
    await charge(ws, MODEL, lastMonth + 2 * DAY, 2_500_000n);

    await switchOn(ws);
    const since = lastMonth + 9 * DAY;
    await backdateInvoiceBilling(stack, ws.accountId, since);
    await charge(ws, MODEL, lastMonth + 11 * DAY, 3_000_004n);
    // Occurred while prepaid, but sent and charged after the switch: on invoice billing.
    await charge(ws, OTHER, lastMonth - 3 * DAY, 400_000n, since + DAY);

    // The hourly catch-up of the month before, run while the account is on invoice billing.
    const before = await run(ws, twoMonthsAgo);
    expect(before.status).toBe(200);
    expect(before.body).toMatchObject({ issued: [], already_issued: 0, without_usage: 0, failed: [] });
    expect(await statements(ws)).toEqual([]);

    expect((await run(ws, lastMonth)).status).toBe(200);
    const [statement] = await statements(ws);
    expect(statement.period.start).toBe(isoDay(lastMonth));
    expect(statement.lines).toEqual([
      line(MODEL, lastMonth, 3_000_004n, false),
      line(OTHER, twoMonthsAgo, 400_000n, true),
    ]);
    expect(await ratedUsage(ws)).toEqual([{ month: monthOf(lastMonth), usage: 3_000_004n + 400_000n }]);
  });
});
