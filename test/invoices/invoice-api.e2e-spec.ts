import { randomUUID } from 'node:crypto';
import { JsonResponse } from '../support/api-client';
import { BillingStack } from '../support/billing-stack';
import { saveCard } from '../support/cards';
import { waitFor } from '../support/wait-for';
import { Workspace } from '../support/workspace';

/** 1,000 USD per million prompt tokens: $1 is 1,000 prompt tokens. */
const MODEL = 'test/invoice-model';
const TOKENS_PER_USD = 1000;

interface PurchaseRow {
  id: string;
  amount_micros: bigint;
  tax_micros: bigint;
  tax_rate_ppm: number;
  tax_jurisdiction: string | null;
  tax_exempt: boolean;
  succeeded_at: Date;
}

/**
 * Issue 5 items 1-2 and 8: the invoice of every purchase and auto-reload, read through the API
 * with all its fields (money as decimal strings), the card and bill-to as they were when it was
 * issued, keyset pagination and filters, tenant checks, the ops list and the issued counter.
 */
describe('invoice API', () => {
  const stack = new BillingStack({ workers: 1, stripe: true });

  function expectError(response: JsonResponse, status: number, code: string): void {
    expect({ status: response.status, code: response.body?.error?.code }).toEqual({ status, code });
  }

  async function buy(ws: Workspace, amount: string): Promise<string> {
    const response = await stack.admin.post(
      `${ws.path}/purchases`,
      { amount },
      { 'idempotency-key': randomUUID() },
    );
    expect(response.status).toBe(201);
    return response.body.id;
  }

  async function setBillingProfile(ws: Workspace, profile: Record<string, string | null>): Promise<void> {
    await stack.stores.sql`
      insert into billing_profiles ${stack.stores.sql({ account_id: ws.accountId, ...profile })}
      on conflict (account_id) do update set ${stack.stores.sql(profile)}, updated_at = now()`;
  }

  async function purchaseRow(purchaseId: string): Promise<PurchaseRow> {
    const [row] = await stack.stores.sql<PurchaseRow[]>`
      select id, amount_micros, tax_micros, tax_rate_ppm, tax_jurisdiction, tax_exempt, succeeded_at
      from credit_purchases where id = ${purchaseId}`;
    return row;
  }

  async function invoiceIdOf(purchaseId: string): Promise<string> {
    const [row] = await stack.stores.sql<
      { id: string }[]
    >`select id from invoices where purchase_id = ${purchaseId}`;
    return row.id;
  }

  const usd = (micros: bigint) => `${micros / 1_000_000n}.${String(micros % 1_000_000n).padStart(6, '0')}`;

  /** billing_invoices_issued_total{kind} summed over the api (webhooks, purchases) and the worker (auto-reload). */
  async function issuedCount(kind: string): Promise<number> {
    let total = 0;
    for (const url of [stack.api.url, ...stack.workers.map((worker) => worker.url)]) {
      const text = await (await fetch(`${url}/metrics`)).text();
      for (const line of text.split('\n')) {
        if (line.startsWith('billing_invoices_issued_total{') && line.includes(`kind="${kind}"`)) {
          total += Number(line.slice(line.lastIndexOf(' ') + 1));
        }
      }
    }
    return total;
  }

  beforeAll(async () => {
    await stack.start();
    await stack.setPrice(MODEL, '1000', '1000');
  });

  afterAll(() => stack.stop());

  describe('the invoice of a card purchase', () => {
    let ws: Workspace;
    let purchaseId: string;
    let invoiceId: string;
    let card: { id: string };

    beforeAll(async () => {
      ws = await Workspace.create(stack);
      card = await saveCard(stack, ws, 'pm_card_mastercard');
      await setBillingProfile(ws, {
        legal_name: 'Acme Robotics GmbH',
        address_line1: 'Hauptstrasse 1',
        address_line2: 'Floor 3',
        city: 'Berlin',
        region: 'BE',
        postal_code: '10115',
        country: 'DE',
        tax_id: 'DE123456789',
        purchase_order_number: 'PO-7731',
        billing_reference: 'cost-center 42',
      });
      purchaseId = await buy(ws, '12.34');
      invoiceId = await invoiceIdOf(purchaseId);
    });

    it('shows number, dates, bill-to, line, amounts, tax, card, PO number and reference, as decimal strings', async () => {
      const purchase = await purchaseRow(purchaseId);

      const sut = await stack.admin.get(`${ws.path}/invoices/${invoiceId}`);

      expect(sut.status).toBe(200);
      const year = new Date().getUTCFullYear();
      expect(sut.body).toEqual({
        id: invoiceId,
        account_id: ws.accountId,
        number: expect.stringMatching(new RegExp(`^INV-${year}-\\d{6}$`)),
        kind: 'purchase',
        status: 'paid',
        currency: 'USD',
        issued_at: expect.any(String),
        issue_date: new Date().toISOString().slice(0, 10),
        transaction_at: purchase.succeeded_at.toISOString(),
        due_date: null,
        period: null,
        purchase_id: purchaseId,
        bill_to: {
          name: 'Acme Robotics GmbH',
          email: 'owner@example.test',
          address: {
            line1: 'Hauptstrasse 1',
            line2: 'Floor 3',
            city: 'Berlin',
            region: 'BE',
            postal_code: '10115',
            country: 'DE',
          },
          tax_id: 'DE123456789',
        },
        lines: [
          { position: 1, description: 'Prepaid credits', model: null, quantity: '1', amount: '12.340000' },
        ],
        subtotal: '12.340000',
        discount: '0.000000',
        tax: {
          jurisdiction: purchase.tax_jurisdiction,
          rate_percent: expect.stringMatching(/^\d+(\.\d+)?$/),
          exempt: purchase.tax_exempt,
          amount: usd(purchase.tax_micros),
        },
        total: usd(purchase.amount_micros + purchase.tax_micros),
        payment_method: { brand: 'mastercard', last4: '4444' },
        purchase_order_number: 'PO-7731',
        billing_reference: 'cost-center 42',
        paid_at: purchase.succeeded_at.toISOString(),
        voided_at: null,
        pdf: { ready: expect.any(Boolean), sha256: null },
      });
      // "7.25" percent is 72,500 ppm, read back without floats.
      const [whole, fraction = ''] = sut.body.tax.rate_percent.split('.');
      expect(Number(whole) * 10_000 + Number(fraction.padEnd(4, '0'))).toBe(purchase.tax_rate_ppm);
      expect(Date.parse(sut.body.issued_at)).toBeGreaterThanOrEqual(purchase.succeeded_at.getTime());
    });

    it('keeps the card and the bill-to it was issued with after the card is removed and the profile changes', async () => {
      const removed = await stack.admin.delete(`${ws.path}/payment-methods/${card.id}`);
      expect(removed.status).toBe(204);
      await setBillingProfile(ws, { legal_name: 'Renamed Ltd', purchase_order_number: null, city: 'Munich' });

      const sut = await stack.admin.get(`${ws.path}/invoices/${invoiceId}`);

      expect(sut.body).toMatchObject({
        payment_method: { brand: 'mastercard', last4: '4444' },
        bill_to: { name: 'Acme Robotics GmbH', address: { city: 'Berlin' } },
        purchase_order_number: 'PO-7731',
      });
    });

    it('is recorded in the audit log as invoice.issued', async () => {
      const audit = await stack.admin.get(`${ws.path}/audit-log?action=invoice.issued`);
      expect(audit.status).toBe(200);
      const invoice = await stack.admin.get(`${ws.path}/invoices/${invoiceId}`);
      expect(audit.body.entries).toEqual([
        expect.objectContaining({
          target: { type: 'invoice', id: invoiceId },
          after: expect.objectContaining({
            number: invoice.body.number,
            kind: 'purchase',
            purchase_id: purchaseId,
          }),
        }),
      ]);
    });
  });

  describe('the invoice list', () => {
    let ws: Workspace;
    const purchases: string[] = [];

    beforeAll(async () => {
      ws = await Workspace.create(stack);
      await saveCard(stack, ws);
      for (const amount of ['5.00', '6.00', '7.00']) purchases.push(await buy(ws, amount));
    });

    it('pages newest first with a cursor, every invoice once', async () => {
      const first = await stack.admin.get(`${ws.path}/invoices?limit=2`);
      expect(first.status).toBe(200);
      expect(first.body.invoices).toHaveLength(2);
      expect(first.body.next_cursor).toEqual(expect.any(String));
      const second = await stack.admin.get(
        `${ws.path}/invoices?limit=2&cursor=${encodeURIComponent(first.body.next_cursor)}`,
      );
      expect(second.status).toBe(200);
      expect(second.body.next_cursor).toBeNull();

      const listed = [...first.body.invoices, ...second.body.invoices];
      expect(listed.map((invoice) => invoice.purchase_id)).toEqual([...purchases].reverse());
      expect(listed.map((invoice) => invoice.total)).toEqual(['7.000000', '6.000000', '5.000000']);
      // Numbers grow with issue time.
      const numbers = listed.map((invoice) => invoice.number);
      expect([...numbers].sort().reverse()).toEqual(numbers);
      expect(listed[0]).not.toHaveProperty('lines');
    });

    it('filters by status, kind and issue time', async () => {
      const count = async (query: string) => {
        const response = await stack.admin.get(`${ws.path}/invoices?${query}`);
        expect(response.status).toBe(200);
        return response.body.invoices.length;
      };
      const past = new Date(Date.now() - 3600_000).toISOString();
      const future = new Date(Date.now() + 3600_000).toISOString();
      expect(await count('status=paid')).toBe(3);
      expect(await count('status=open')).toBe(0);
      expect(await count('kind=purchase')).toBe(3);
      expect(await count('kind=auto_reload')).toBe(0);
      expect(await count(`from=${past}&to=${future}`)).toBe(3);
      expect(await count(`from=${future}`)).toBe(0);
      expect(await count(`to=${past}`)).toBe(0);
    });

    it('refuses filters and cursors it cannot read with 422', async () => {
      expectError(await stack.admin.get(`${ws.path}/invoices?status=unpaid`), 422, 'validation_failed');
      expectError(await stack.admin.get(`${ws.path}/invoices?kind=refund`), 422, 'validation_failed');
      expectError(await stack.admin.get(`${ws.path}/invoices?from=yesterday`), 422, 'validation_failed');
      expectError(await stack.admin.get(`${ws.path}/invoices?limit=0`), 422, 'validation_failed');
      expectError(await stack.admin.get(`${ws.path}/invoices?cursor=not-a-cursor`), 422, 'invalid_cursor');
      // Parts JavaScript reads but Postgres refuses: 422, never a failed statement.
      expectError(
        await stack.admin.get(`${ws.path}/invoices?from=0000-01-01T00:00:00Z`),
        422,
        'validation_failed',
      );
      const edited = Buffer.from(JSON.stringify(['2030', randomUUID()])).toString('base64url');
      expectError(await stack.admin.get(`${ws.path}/invoices?cursor=${edited}`), 422, 'invalid_cursor');
    });

    it('answers 404 for an unknown account and an unknown or malformed invoice id', async () => {
      expectError(await stack.admin.get(`/v1/accounts/${randomUUID()}/invoices`), 404, 'account_not_found');
      expectError(await stack.admin.get(`${ws.path}/invoices/${randomUUID()}`), 404, 'invoice_not_found');
      expectError(await stack.admin.get(`${ws.path}/invoices/INV-1`), 404, 'invoice_not_found');
    });
  });

  describe('tenants and permissions', () => {
    it("never shows one workspace's invoice to another's key, and needs billing permission", async () => {
      const a = await Workspace.create(stack);
      const b = await Workspace.create(stack);
      await saveCard(stack, b);
      const bInvoice = await invoiceIdOf(await buy(b, '8.00'));
      const aOwner = a.asKey((await a.createKey({ role: 'owner' })).key).api;
      const bMember = b.asKey((await b.createKey({ role: 'member' })).key).api;
      const bBilling = b.asKey((await b.createKey({ role: 'billing' })).key).api;

      expectError(await aOwner.get(`${b.path}/invoices/${bInvoice}`), 404, 'account_not_found');
      expectError(await aOwner.get(`${b.path}/invoices`), 404, 'account_not_found');
      // B's invoice id under A's own account is simply not there.
      expectError(await aOwner.get(`${a.path}/invoices/${bInvoice}`), 404, 'invoice_not_found');
      expect((await aOwner.get(`${a.path}/invoices`)).body).toEqual({ invoices: [], next_cursor: null });
      expect((await bMember.get(`${b.path}/invoices`)).status).toBe(403);
      const own = await bBilling.get(`${b.path}/invoices/${bInvoice}`);
      expect(own.status).toBe(200);
      const paid = await purchaseRow(own.body.purchase_id);
      expect(own.body.total).toBe(usd(paid.amount_micros + paid.tax_micros));
      // The ops list is for the admin token only.
      expect((await bBilling.get('/v1/admin/invoices')).status).toBe(403);
    });
  });

  describe('the ops list', () => {
    it('lists invoices of every account, filtered by account, kind, status and due date', async () => {
      const ws = await Workspace.create(stack);
      await saveCard(stack, ws);
      const invoiceId = await invoiceIdOf(await buy(ws, '11.00'));

      const byAccount = await stack.admin.get(`/v1/admin/invoices?account_id=${ws.accountId}&kind=purchase`);
      expect(byAccount.status).toBe(200);
      expect(byAccount.body.invoices.map((invoice: { id: string }) => invoice.id)).toEqual([invoiceId]);

      // An unpaid net-terms invoice past its due date, as the monthly invoicing marks it.
      await stack.stores.sql`
        update invoices set status = 'overdue', due_date = '2026-01-31', paid_at = null where id = ${invoiceId}`;
      const overdue = await stack.admin.get('/v1/admin/invoices?status=overdue&due_before=2026-02-01');
      expect(overdue.status).toBe(200);
      expect(overdue.body.invoices).toEqual([
        expect.objectContaining({
          id: invoiceId,
          account_id: ws.accountId,
          status: 'overdue',
          due_date: '2026-01-31',
        }),
      ]);
      const notYetDue = await stack.admin.get('/v1/admin/invoices?status=overdue&due_before=2026-01-30');
      expect(notYetDue.body.invoices).toEqual([]);
      expectError(
        await stack.admin.get('/v1/admin/invoices?due_before=31.01.2026'),
        422,
        'validation_failed',
      );
      for (const date of ['2026-02-31', '0000-01-01']) {
        expectError(await stack.admin.get(`/v1/admin/invoices?due_before=${date}`), 422, 'validation_failed');
      }
      expectError(await stack.admin.get('/v1/admin/invoices?account_id=nope'), 404, 'account_not_found');
    });
  });

  describe('auto-reload', () => {
    it('invoices a successful auto-reload in its credit transaction, with the card it charged', async () => {
      const ws = await Workspace.create(stack);
      await stack.grant(ws.accountId, '10.00');
      await saveCard(stack, ws, 'pm_card_visa');
      const saved = await stack.admin.put(`${ws.path}/auto-reload`, {
        enabled: true,
        threshold: '5.00',
        amount: '20.00',
      });
      expect(saved.status).toBe(200);
      const countedBefore = await issuedCount('auto_reload');

      const event = {
        id: randomUUID(),
        account_id: ws.accountId,
        model: MODEL,
        prompt_tokens: 6 * TOKENS_PER_USD,
        completion_tokens: 0,
      };
      expect((await stack.gateway.post('/v1/usage/events', { events: [event] })).status).toBe(202);

      const listed = await waitFor(
        () => stack.admin.get(`${ws.path}/invoices?kind=auto_reload`),
        (response) => response.body?.invoices?.length === 1,
        { what: 'the auto-reload invoice' },
      );
      const [reload] = await stack.stores.sql<{ id: string; succeeded_at: Date }[]>`
        select id, succeeded_at from credit_purchases where account_id = ${ws.accountId} and kind = 'auto_reload'`;
      expect(listed.body.invoices[0]).toMatchObject({
        kind: 'auto_reload',
        status: 'paid',
        purchase_id: reload.id,
        subtotal: '20.000000',
        transaction_at: reload.succeeded_at.toISOString(),
        payment_method: { brand: 'visa', last4: '4242' },
      });
      // Committed with the credit: the invoice exists exactly when the ledger row does.
      const [{ credits }] = await stack.stores.sql<{ credits: bigint }[]>`
        select count(*)::bigint as credits from ledger_entries where idempotency_key = ${'purchase:' + reload.id}`;
      expect(credits).toBe(1n);
      await waitFor(
        () => issuedCount('auto_reload'),
        (value) => value === countedBefore + 1,
        { what: 'the auto-reload invoice to be counted' },
      );
    });
  });

  it('counts invoices issued by kind on the process that issued them', async () => {
    const before = await issuedCount('purchase');
    const ws = await Workspace.create(stack);
    await saveCard(stack, ws);
    await buy(ws, '5.00');
    // Counted after commit by whoever credited it: the purchase request or the webhook.
    await waitFor(
      () => issuedCount('purchase'),
      (value) => value === before + 1,
      { what: 'the purchase invoice to be counted' },
    );
  });
});
