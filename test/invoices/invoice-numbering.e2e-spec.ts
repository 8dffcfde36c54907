import { randomUUID } from 'node:crypto';
import { BillingStack } from '../support/billing-stack';
import { saveCard } from '../support/cards';
import { waitFor } from '../support/wait-for';
import { Workspace } from '../support/workspace';

interface InvoiceRow {
  id: string;
  number: string;
  issue_year: number;
  sequence: number;
  purchase_id: string;
  account_id: string;
}

/**
 * Issue 5 item 1 / judged by (a): every credit purchase gets its invoice in the credit's
 * transaction, numbered INV-<year>-<six digits>, unique and without gaps per issuing year, also
 * when 50 purchases run at once and when a credit transaction rolls back after taking a number.
 */
describe('invoice numbering', () => {
  const stack = new BillingStack({ workers: 1, stripe: true });

  async function workspaceWithCard(): Promise<Workspace> {
    const ws = await Workspace.create(stack);
    await saveCard(stack, ws);
    return ws;
  }

  function buy(ws: Workspace, amount: string, key: string = randomUUID()) {
    return stack.admin.post(`${ws.path}/purchases`, { amount }, { 'idempotency-key': key });
  }

  async function allInvoices(): Promise<InvoiceRow[]> {
    return stack.stores.sql<InvoiceRow[]>`
      select id, number, issue_year, sequence, purchase_id, account_id from invoices order by issue_year, sequence`;
  }

  /** Every invoice ever issued in this database: numbers 1..n of the year, none missing, none twice. */
  async function expectGapless(): Promise<InvoiceRow[]> {
    const invoices = await allInvoices();
    const year = new Date().getUTCFullYear();
    expect(invoices.map((invoice) => invoice.sequence)).toEqual(invoices.map((_, index) => index + 1));
    expect(invoices.map((invoice) => invoice.number)).toEqual(
      invoices.map((_, index) => `INV-${year}-${String(index + 1).padStart(6, '0')}`),
    );
    const [sequence] = await stack.stores.sql<{ last_number: number }[]>`
      select last_number from invoice_sequences where year = ${year}`;
    expect(sequence.last_number).toBe(invoices.length);
    return invoices;
  }

  beforeAll(async () => {
    await stack.start();
  });

  afterAll(() => stack.stop());

  it('gives 50 concurrent purchases 50 invoices with consecutive numbers, none repeated or skipped', async () => {
    const workspaces = await Promise.all(Array.from({ length: 5 }, () => workspaceWithCard()));
    const before = (await allInvoices()).length;

    // Ten at once on each of five accounts: same-account and cross-account issuers race.
    const responses = await Promise.all(
      workspaces.flatMap((ws) => Array.from({ length: 10 }, (_, i) => buy(ws, `${10 + i}.00`))),
    );

    expect(responses.map((response) => response.status)).toEqual(Array(50).fill(201));
    const purchaseIds = responses.map((response) => response.body.id as string);
    const invoices = (await expectGapless()).slice(before);
    expect(invoices).toHaveLength(50);
    expect(invoices.map((invoice) => invoice.sequence)).toEqual(
      Array.from({ length: 50 }, (_, i) => before + i + 1),
    );
    expect(new Set(invoices.map((invoice) => invoice.number)).size).toBe(50);
    // Issue times are in number order: each issuer read the clock once it held the number.
    const [{ inverted }] = await stack.stores.sql<{ inverted: bigint }[]>`
      select count(*)::bigint as inverted from (
        select issued_at < lag(issued_at) over (order by issue_year, sequence) as earlier from invoices) t
      where earlier`;
    expect(inverted).toBe(0n);
    expect(invoices.map((invoice) => invoice.purchase_id).sort()).toEqual([...purchaseIds].sort());
    // Each purchase's invoice is in its own account's list.
    for (const ws of workspaces) {
      const listed = await stack.admin.get(`${ws.path}/invoices?limit=500`);
      expect(listed.status).toBe(200);
      expect(listed.body.invoices).toHaveLength(10);
    }
  });

  it('dates an invoice when it gets its number, not when its issuer started waiting for it', async () => {
    const ws = await workspaceWithCard();
    await buy(ws, '5.00'); // the year's sequence row exists
    const year = new Date().getUTCFullYear();
    let purchase!: ReturnType<typeof buy>;
    // Another issuer holds the year's number until it commits; the purchase waits for it.
    const waitSeen = await stack.stores.sql.begin(async (tx) => {
      await tx`select last_number from invoice_sequences where year = ${year} for update`;
      purchase = buy(ws, '7.00');
      await waitFor(
        () => stack.stores.sql<{ waiting: bigint }[]>`
          select count(*)::bigint as waiting from pg_stat_activity
          where datname = current_database() and wait_event_type = 'Lock' and query like '%invoice_sequences%'`,
        ([row]) => row.waiting === 1n,
        { what: 'the purchase to wait for the invoice number' },
      );
      // The issuer was already waiting then. The number is held 200 ms more, so an invoice dated
      // when its wait began is that much before the time compared with, and one dated when it got
      // its number is that much after: a margin against two backends' clocks disagreeing a little
      // (compared with the moment of release, with no margin, it failed once in a CI dry run).
      const [row] = await tx<{ now: string }[]>`select clock_timestamp()::text as now`;
      await new Promise((resolve) => setTimeout(resolve, 200));
      return row.now;
    });
    const bought = await purchase;
    expect(bought.status).toBe(201);
    const [invoice] = await stack.stores.sql<{ after_wait_seen: boolean }[]>`
      select issued_at > ${waitSeen}::timestamptz + interval '100 milliseconds' as after_wait_seen
      from invoices where purchase_id = ${bought.body.id}`;
    expect(invoice.after_wait_seen).toBe(true);
  });

  it('returns the number of a credit transaction that rolled back, and credits the purchase once on retry', async () => {
    const failing = await workspaceWithCard();
    const other = await workspaceWithCard();
    await buy(other, '5.00');
    const before = await expectGapless();
    // The credit transaction fails after the number is taken (the invoice's lines come last).
    await stack.stores.sql.unsafe(`
      create function fail_invoice_lines() returns trigger language plpgsql as $$
      begin
        if exists (select 1 from invoices where id = new.invoice_id and account_id = '${failing.accountId}') then
          raise exception 'test: invoice lines refused';
        end if;
        return new;
      end $$;
      create trigger fail_invoice_lines before insert on invoice_lines
        for each row execute function fail_invoice_lines();`);
    const key = randomUUID();
    const failed = await buy(failing, '25.00', key);
    expect(failed.status).toBeGreaterThanOrEqual(500);
    expect(failed.body).toEqual({ error: expect.objectContaining({ code: expect.any(String) }) });
    const [pending] = await stack.stores.sql<{ id: string; status: string }[]>`
      select id, status from credit_purchases where account_id = ${failing.accountId}`;
    expect(pending.status).not.toBe('succeeded');
    const [{ credits }] = await stack.stores.sql<{ credits: bigint }[]>`
      select count(*)::bigint as credits from ledger_entries where idempotency_key = ${'purchase:' + pending.id}`;
    expect(credits).toBe(0n);

    // The next invoice anyone gets is the number the rolled-back one had taken.
    const next = await buy(other, '6.00');
    expect(next.status).toBe(201);
    const afterRollback = await expectGapless();
    expect(afterRollback).toHaveLength(before.length + 1);
    expect(afterRollback[afterRollback.length - 1]).toMatchObject({
      purchase_id: next.body.id,
      sequence: before.length + 1,
    });

    await stack.stores.sql.unsafe(`
      drop trigger fail_invoice_lines on invoice_lines;
      drop function fail_invoice_lines();`);
    // The client retries with the same Idempotency-Key (or the webhook's redelivery gets there first).
    const retried = await buy(failing, '25.00', key);
    expect(retried.status).toBe(201);
    expect(retried.body).toMatchObject({ id: pending.id, status: 'succeeded' });
    const settled = await waitFor(
      () => stack.stores.sql<InvoiceRow[]>`
        select id, number, issue_year, sequence, purchase_id, account_id from invoices where purchase_id = ${pending.id}`,
      (rows) => rows.length === 1,
      { what: 'the retried purchase to be invoiced' },
    );
    const final = await expectGapless();
    expect(final).toHaveLength(before.length + 2);
    expect(settled[0].sequence).toBe(before.length + 2);
    const [{ credits: creditedOnce }] = await stack.stores.sql<{ credits: bigint }[]>`
      select count(*)::bigint as credits from ledger_entries where idempotency_key = ${'purchase:' + pending.id}`;
    expect(creditedOnce).toBe(1n);
  });

  it('issues one invoice for a purchase replayed with its Idempotency-Key', async () => {
    const ws = await workspaceWithCard();
    const key = randomUUID();
    const responses = [await buy(ws, '9.00', key), await buy(ws, '9.00', key)];
    expect(responses.map((response) => response.status)).toEqual([201, 201]);
    expect(responses[1].body.id).toBe(responses[0].body.id);
    const invoices = await stack.stores.sql<{ n: bigint }[]>`
      select count(*)::bigint as n from invoices where account_id = ${ws.accountId}`;
    expect(invoices[0].n).toBe(1n);
    await expectGapless();
  });
});
