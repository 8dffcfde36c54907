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
import { waitFor } from '../support/wait-for';
import { Workspace } from '../support/workspace';

const MODEL = 'acme/late-model';
const OTHER = 'acme/other-model';

/**
 * Usage committed after its month's statement read the usage (a gateway that sent it late, a
 * batch that waited out an outage, a batch in flight while the statement ran) is owed: it goes on
 * the account's next statement, as lines of its own month, and on no statement twice.
 *
 * Two ended months are needed and ingest refuses events older than 35 days, so the usage is
 * written as the usage worker writes it (events, ledger debit, balance) with chosen timestamps.
 */
describe('usage statements: usage committed after its month was invoiced', () => {
  const stack = new BillingStack({ workers: 1, workerEnv: { INVOICE_STATEMENT_INTERVAL_MS: '0' } });
  const threeMonthsAgo = monthStart(Date.now(), -3);
  const twoMonthsAgo = monthStart(Date.now(), -2);
  const lastMonth = monthStart(Date.now(), -1);

  beforeAll(() => stack.start(), 120_000);
  afterAll(() => stack.stop());

  const charge = (
    sql: typeof stack.stores.sql,
    accountId: string,
    model: string,
    at: number,
    micros: bigint,
  ) => chargeUsage(stack, sql, accountId, model, at, micros);

  const run = (month: number) =>
    stack.admin.post('/v1/admin/invoice-statements/run', { month: monthOf(month) });
  const runFor = (ws: Workspace, month: number) =>
    stack.admin.post('/v1/admin/invoice-statements/run', { month: monthOf(month), account_id: ws.accountId });
  const statement = async (ws: Workspace, month: number) => {
    const [row] = await stack.stores.sql<{ id: string }[]>`
      select id from invoices where account_id = ${ws.accountId} and kind = 'usage_statement'
        and period_start = ${isoDay(month)}::date`;
    return row ? (await stack.admin.get(`${ws.path}/invoices/${row.id}`)).body : null;
  };

  it('puts late usage of an invoiced month on the next statement, in-flight usage included, never twice', async () => {
    const ws = await Workspace.create(stack, 'enterprise');
    const terms = await stack.admin.put(`/v1/admin/accounts/${ws.accountId}/invoice-billing`, {
      payment_terms_days: 30,
      credit_limit: '1000.00',
    });
    expect(terms.status).toBe(200);
    // On invoice billing since before both months (the PUT above records now).
    await backdateInvoiceBilling(stack, ws.accountId, twoMonthsAgo);

    // Two months ago: $1.234567 on MODEL, invoiced.
    await charge(stack.stores.sql, ws.accountId, MODEL, twoMonthsAgo + 3 * DAY, 1_234_567n);
    // A batch of that month in flight while its statement reads the usage: committed afterwards.
    const inFlight = await stack.stores.sql.reserve();
    await inFlight`begin`;
    await charge(
      inFlight as unknown as typeof stack.stores.sql,
      ws.accountId,
      MODEL,
      twoMonthsAgo + 20 * DAY,
      500_000n,
    );

    expect((await run(twoMonthsAgo)).status).toBe(200);
    const first = await statement(ws, twoMonthsAgo);
    expect(first.lines).toEqual([
      expect.objectContaining({ model: MODEL, amount: usd(centsHalfUp(1_234_567n)) }),
    ]);
    await inFlight`commit`;
    inFlight.release();

    // Reported late, after that statement: $0.300001 more of two months ago on OTHER.
    await charge(stack.stores.sql, ws.accountId, OTHER, twoMonthsAgo + 27 * DAY, 300_001n);
    // Last month's own usage: $2.000004 on MODEL.
    await charge(stack.stores.sql, ws.accountId, MODEL, lastMonth + 5 * DAY, 2_000_004n);
    // Run again, the month already invoiced takes nothing of it.
    expect((await run(twoMonthsAgo)).body).toMatchObject({ issued: [] });
    expect((await statement(ws, twoMonthsAgo)).lines).toEqual(first.lines);

    expect((await run(lastMonth)).status).toBe(200);
    const second = await statement(ws, lastMonth);
    const from = isoDay(twoMonthsAgo);
    const to = isoDay(lastMonth - DAY);
    expect(second.lines).toEqual([
      expect.objectContaining({
        model: MODEL,
        description: `${MODEL}: usage ${isoDay(lastMonth)} to ${isoDay(monthStart(lastMonth, 1) - DAY)}`,
        amount: usd(centsHalfUp(2_000_004n)),
      }),
      expect.objectContaining({
        model: MODEL,
        description: `${MODEL}: usage ${from} to ${to} not on an earlier statement`,
        amount: usd(centsHalfUp(500_000n)),
      }),
      expect.objectContaining({
        model: OTHER,
        description: `${OTHER}: usage ${from} to ${to} not on an earlier statement`,
        amount: usd(centsHalfUp(300_001n)),
      }),
    ]);

    // Every debit is on exactly one statement: usage plus the statements' adjustments (the cent
    // rounding) is what the two invoices charge before tax.
    const [ledger] = await stack.stores.sql<{ usage: bigint; adjustment: bigint }[]>`
      select coalesce(sum(amount_micros) filter (where kind = 'usage'), 0)::bigint as usage,
             coalesce(sum(amount_micros) filter (where kind = 'adjustment'), 0)::bigint as adjustment
      from ledger_entries where account_id = ${ws.accountId}`;
    const [invoiced] = await stack.stores.sql<{ pretax: bigint }[]>`
      select sum(total_micros - tax_micros)::bigint as pretax from invoices
      where account_id = ${ws.accountId} and kind = 'usage_statement'`;
    expect(ledger.usage).toBe(-(1_234_567n + 500_000n + 300_001n + 2_000_004n));
    expect(-(ledger.usage + ledger.adjustment)).toBe(invoiced.pretax);
  });

  it('does not issue a month whose usage a later statement already took', async () => {
    const ws = await Workspace.create(stack, 'enterprise');
    await stack.admin.put(`/v1/admin/accounts/${ws.accountId}/invoice-billing`, {
      payment_terms_days: 30,
      credit_limit: '1000.00',
    });
    await backdateInvoiceBilling(stack, ws.accountId, twoMonthsAgo);
    await charge(stack.stores.sql, ws.accountId, MODEL, lastMonth + DAY, 1_000_000n);
    expect((await run(lastMonth)).status).toBe(200);
    expect(await statement(ws, lastMonth)).not.toBeNull();
    // Usage of the month before appears only now, after last month was invoiced.
    await charge(stack.stores.sql, ws.accountId, MODEL, twoMonthsAgo + DAY, 700_000n);
    const earlier = await run(twoMonthsAgo);
    expect(earlier.status).toBe(200);
    expect(await statement(ws, twoMonthsAgo)).toBeNull();
  });

  it('runs for two months of one account at once bill each event once', async () => {
    const ws = await Workspace.create(stack, 'enterprise');
    await stack.admin.put(`/v1/admin/accounts/${ws.accountId}/invoice-billing`, {
      payment_terms_days: 30,
      credit_limit: '1000.00',
    });
    await backdateInvoiceBilling(stack, ws.accountId, threeMonthsAgo);
    await charge(stack.stores.sql, ws.accountId, MODEL, threeMonthsAgo + DAY, 100_000n);
    expect((await runFor(ws, threeMonthsAgo)).status).toBe(200);
    await charge(stack.stores.sql, ws.accountId, MODEL, twoMonthsAgo + DAY, 2_000_000n);
    await charge(stack.stores.sql, ws.accountId, MODEL, lastMonth + DAY, 30_000_000n);

    // An admin run for two months ago and the scheduled run of last month, at once: both find the
    // statement of three months ago as the previous one. The balance row, which each statement's
    // ledger change writes, is held until both runs wait on a lock, so neither commits before the
    // other has read whatever its lock lets it read.
    const holder = await stack.stores.sql.reserve();
    await holder`begin`;
    await holder`select 1 from account_balances where account_id = ${ws.accountId} and shard = 0 for update`;
    const runs = Promise.all([runFor(ws, twoMonthsAgo), runFor(ws, lastMonth)]);
    await waitFor(
      async () => {
        const [{ waiting }] = await stack.stores.sql<{ waiting: number }[]>`
          select count(*)::int as waiting from pg_stat_activity
          where datname = current_database() and wait_event_type = 'Lock'`;
        return waiting;
      },
      (waiting) => waiting >= 2,
      { what: 'both statement runs to wait on a lock' },
    );
    await holder`commit`;
    holder.release();
    for (const response of await runs) expect(response.status).toBe(200);

    // Each event on exactly one statement: what the statements rated is what was charged, and the
    // ledger agrees with their totals.
    const [rated] = await stack.stores.sql<{ usage: string }[]>`
      select sum((source->>'usage_micros')::bigint)::text as usage from ledger_entries
      where account_id = ${ws.accountId} and kind = 'adjustment'`;
    expect(BigInt(rated.usage)).toBe(100_000n + 2_000_000n + 30_000_000n);
    const [ledger] = await stack.stores.sql<{ usage: bigint; adjustment: bigint }[]>`
      select coalesce(sum(amount_micros) filter (where kind = 'usage'), 0)::bigint as usage,
             coalesce(sum(amount_micros) filter (where kind = 'adjustment'), 0)::bigint as adjustment
      from ledger_entries where account_id = ${ws.accountId}`;
    const [invoiced] = await stack.stores.sql<{ pretax: bigint }[]>`
      select sum(total_micros - tax_micros)::bigint as pretax from invoices
      where account_id = ${ws.accountId} and kind = 'usage_statement'`;
    expect(-(ledger.usage + ledger.adjustment)).toBe(invoiced.pretax);
    expect(await statement(ws, lastMonth)).not.toBeNull();
  });
});
