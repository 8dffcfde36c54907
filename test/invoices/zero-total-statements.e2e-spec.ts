import { randomUUID } from 'node:crypto';
import { BillingStack } from '../support/billing-stack';
import { pdfText } from '../support/pdf-text';
import {
  invoiceBilledWorkspace,
  chargeUsage,
  DAY,
  isoDay,
  monthOf,
  monthStart,
} from '../support/statement-usage';
import { waitFor } from '../support/wait-for';
import { Workspace } from '../support/workspace';

const MODEL = 'acme/zero-statement';

/**
 * A month whose statement totals $0.00 (lines are rounded to whole cents, so usage under half a
 * cent, or a 100 % volume discount): nothing is owed, so the statement is issued settled (paid at
 * its issue time, no due date) and never mailed as due, reminded of or marked overdue. Its ledger
 * adjustment still gives the month's usage back, so the balance is exact.
 */
describe('usage statements of $0.00', () => {
  const stack = new BillingStack({
    workers: 1,
    s3: true,
    workerEnv: { INVOICE_STATEMENT_INTERVAL_MS: '0', INVOICE_OVERDUE_INTERVAL_MS: '0' },
  });
  const lastMonth = monthStart(Date.now(), -1);
  const sql = () => stack.stores.sql;

  beforeAll(() => stack.start(), 120_000);
  afterAll(() => stack.stop());

  const invoiceBillingAccount = (discountTiers?: unknown[]): Promise<Workspace> =>
    invoiceBilledWorkspace(stack, lastMonth, discountTiers ? { discount_tiers: discountTiers } : {});

  async function runLastMonth(ws: Workspace) {
    const run = await stack.admin.post('/v1/admin/invoice-statements/run', {
      month: monthOf(lastMonth),
      account_id: ws.accountId,
    });
    expect(run.status).toBe(200);
    expect(run.body.issued).toHaveLength(1);
    return (await stack.admin.get(`${ws.path}/invoices/${run.body.issued[0].invoice_id}`)).body;
  }

  const ledgerOf = async (accountId: string) => {
    const [row] = await sql()<{ usage: bigint; adjustment: bigint; balance: bigint }[]>`
      select coalesce(sum(amount_micros) filter (where kind = 'usage'), 0)::bigint as usage,
             coalesce(sum(amount_micros) filter (where kind = 'adjustment'), 0)::bigint as adjustment,
             (select sum(balance_micros) from account_balances where account_id = ${accountId})::bigint as balance
      from ledger_entries where account_id = ${accountId}`;
    return row;
  };
  const alertKinds = async (invoiceId: string) =>
    (
      await sql()<{ kind: string }[]>`
        select kind::text from alerts where details->>'invoice_id' = ${invoiceId} order by kind`
    ).map((row) => row.kind);

  it('is issued paid at its issue time, with no due date, when the month used under half a cent', async () => {
    const ws = await invoiceBillingAccount();
    await chargeUsage(stack, sql(), ws.accountId, MODEL, lastMonth + DAY, 4_999n);

    const invoice = await runLastMonth(ws);
    expect(invoice).toMatchObject({
      kind: 'usage_statement',
      status: 'paid',
      period: { start: isoDay(lastMonth) },
      due_date: null,
      subtotal: '0.000000',
      total: '0.000000',
      paid_at: invoice.issued_at,
    });
    // The adjustment gives back the 4,999 micros the usage took: the month costs what the invoice says.
    expect(await ledgerOf(ws.accountId)).toEqual({ usage: -4_999n, adjustment: 4_999n, balance: 0n });

    // Its PDF says so, with nothing to pay.
    const [row] = await waitFor(
      () => sql()<{ pdf_key: string | null; pdf_status: string | null }[]>`
        select pdf_key, pdf_status from invoices where id = ${invoice.id}`,
      ([recorded]) => recorded?.pdf_status === 'paid',
      { what: 'the statement PDF' },
    );
    const text = (await pdfText(await stack.s3!.storage.getBuffer(row.pdf_key!))).text;
    expect(text).toContain('Paid in full on');
    expect(text).not.toContain('Please pay');
    // Mailed as ready (once the PDF is recorded), never as due.
    expect(await alertKinds(invoice.id)).toEqual(['invoice_ready']);

    // A payment recorded against it credits nothing.
    const payment = await stack.admin.post(
      `/v1/admin/invoices/${invoice.id}/payments`,
      {},
      { 'idempotency-key': randomUUID() },
    );
    expect({ status: payment.status, code: payment.body.error?.code }).toEqual({
      status: 409,
      code: 'invoice_already_paid',
    });
    expect((await ledgerOf(ws.accountId)).balance).toBe(0n);
  });

  it('is issued paid when a 100 % volume discount takes the whole subtotal', async () => {
    const ws = await invoiceBillingAccount([{ from: '0.00', discount_percent: '100' }]);
    await chargeUsage(stack, sql(), ws.accountId, MODEL, lastMonth + DAY, 2_345_678n);

    const invoice = await runLastMonth(ws);
    expect(invoice).toMatchObject({
      status: 'paid',
      due_date: null,
      subtotal: '2.350000',
      discount: '2.350000',
      total: '0.000000',
      paid_at: invoice.issued_at,
    });
    expect(await ledgerOf(ws.accountId)).toEqual({ usage: -2_345_678n, adjustment: 2_345_678n, balance: 0n });
    expect(await alertKinds(invoice.id)).not.toContain('invoice_due');
  });

  it('is never reminded of nor marked overdue when one was issued open (before the fix)', async () => {
    const ws = await invoiceBillingAccount();
    await chargeUsage(stack, sql(), ws.accountId, MODEL, lastMonth + DAY, 1_000n);
    const settled = await runLastMonth(ws);
    // A $0.00 statement as issued before: open with a due date, one due tomorrow (issued 40 days ago,
    // so a reminder would apply) and one past it.
    const legacyOpen = (dueInDays: number) => sql()`
      update invoices set status = 'open', paid_at = null,
             due_date = (now() at time zone 'UTC')::date + ${dueInDays}::int, issued_at = now() - interval '40 days'
      where id = ${settled.id}`;

    await legacyOpen(1);
    expect((await stack.admin.post('/v1/admin/invoice-statements/mark-overdue', {})).status).toBe(200);
    await legacyOpen(-1);
    const marked = await stack.admin.post('/v1/admin/invoice-statements/mark-overdue', {});
    expect(marked.status).toBe(200);

    const [row] = await sql()<{ status: string }[]>`select status from invoices where id = ${settled.id}`;
    expect(row.status).toBe('open');
    const kinds = await alertKinds(settled.id);
    expect(kinds).not.toContain('invoice_due');
    expect(kinds).not.toContain('invoice_overdue');
    const overdue = await stack.admin.get(`/v1/admin/invoices?status=overdue&account_id=${ws.accountId}`);
    expect(overdue.body.invoices).toEqual([]);
  });
});
