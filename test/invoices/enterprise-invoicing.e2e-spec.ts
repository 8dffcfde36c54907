import { randomUUID } from 'node:crypto';
import { AppProcess } from '../support/app-process';
import { BillingStack } from '../support/billing-stack';
import { pdfText } from '../support/pdf-text';
import { backdateInvoiceBilling } from '../support/statement-usage';
import { expectedCostMicros, seededRandom, TestEvent, usageEvent } from '../support/usage-events';
import { waitFor } from '../support/wait-for';
import { Workspace } from '../support/workspace';

/** Priced like a large model: $15 / $60 per million prompt / completion tokens. */
const LARGE = 'acme/large-enterprise';
/** Cheap: $0.15 / $0.60. */
const SMALL = 'acme/small-enterprise';
/** $1 per million tokens of every kind: one micro per token, for exact credit-limit steps. */
const UNIT = 'acme/unit-enterprise';
const PRICES: Record<string, { prompt: bigint; completion: bigint; cached: bigint; reasoning: bigint }> = {
  // cached defaults to the prompt price, reasoning to the completion price (README).
  [LARGE]: { prompt: 15_000_000n, completion: 60_000_000n, cached: 15_000_000n, reasoning: 60_000_000n },
  [SMALL]: { prompt: 150_000n, completion: 600_000n, cached: 150_000n, reasoning: 600_000n },
};
const HOUR = 3_600_000;
const CENT = 10_000n;

// Money and calendar computed here, independently of the product code.
const usd = (micros: bigint) => {
  const sign = micros < 0n ? '-' : '';
  const abs = micros < 0n ? -micros : micros;
  return `${sign}${abs / 1_000_000n}.${String(abs % 1_000_000n).padStart(6, '0')}`;
};
const centsHalfUp = (micros: bigint) => ((micros + CENT / 2n) / CENT) * CENT;
const monthStart = (ms: number, monthsLater = 0) =>
  Date.UTC(new Date(ms).getUTCFullYear(), new Date(ms).getUTCMonth() + monthsLater, 1);
const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const monthOf = (ms: number) => new Date(ms).toISOString().slice(0, 7);

/** The agreement's tiers: 5 % of spend from $2, 10 % from $3, 50 % from $1,000 (never reached here). */
const TIERS = [
  { from: '0.00', discount_percent: '0' },
  { from: '2.00', discount_percent: '5' },
  { from: '3.00', discount_percent: '10' },
  { from: '1000.00', discount_percent: '50' },
];

/** Graduated: each tier discounts only the spend between its start and the next; rounded once, half up, to the cent. */
function expectedDiscount(subtotal: bigint): bigint {
  const bounds = TIERS.map((tier) => BigInt(Math.round(Number(tier.from) * 100)) * CENT);
  let exact = 0n; // micros x percent x 10,000 (ppm)
  TIERS.forEach((tier, index) => {
    const top = index + 1 < TIERS.length && bounds[index + 1] < subtotal ? bounds[index + 1] : subtotal;
    if (top > bounds[index]) exact += (top - bounds[index]) * BigInt(Number(tier.discount_percent) * 10_000);
  });
  const unit = 1_000_000n * CENT;
  return ((exact + unit / 2n) / unit) * CENT;
}

/**
 * A test that straddled the start of a month would see "the previous month" change halfway, and
 * the scheduled job waits 15 minutes into a month. Near either edge, wait on the clock.
 */
async function clearOfMonthEdges(): Promise<void> {
  const now = Date.now();
  const next = monthStart(now, 1);
  if (next - now < 10 * 60_000) {
    await waitFor(
      () => Date.now(),
      (t) => t >= next,
      { timeoutMs: 11 * 60_000, intervalMs: 1000, what: 'the month to change' },
    );
  }
  const start = monthStart(Date.now());
  if (Date.now() - start < 16 * 60_000) {
    await waitFor(
      () => Date.now(),
      (t) => t >= start + 16 * 60_000,
      { timeoutMs: 17 * 60_000, intervalMs: 1000, what: 'the 1st grace period to pass' },
    );
  }
}

describe('Enterprise invoice billing: credit, monthly statements, overdue, payment', () => {
  /** The text of a statement's PDF as stored in S3; null until one is recorded. */
  async function statementPdfText(invoiceId: string): Promise<string | null> {
    const [row] = await stack.stores.sql<{ pdf_key: string | null }[]>`
      select pdf_key from invoices where id = ${invoiceId}`;
    if (!row?.pdf_key) return null;
    return (await pdfText(await stack.s3!.storage.getBuffer(row.pdf_key))).text;
  }

  const stack = new BillingStack({
    workers: 1,
    // The statements' PDFs, drawn again when their status changes.
    s3: true,
    // Overdue marking and the render sweep every half second so the test sees them; the monthly
    // statement job is started later, on a worker of its own, once the usage it should invoice is in.
    workerEnv: {
      INVOICE_OVERDUE_INTERVAL_MS: '500',
      INVOICE_STATEMENT_INTERVAL_MS: '0',
      INVOICE_RENDER_SWEEP_INTERVAL_MS: '500',
      INVOICE_RENDER_SWEEP_AGE_SECONDS: '0',
    },
  });
  let scheduler: AppProcess | null = null;
  let previousMonth: { month: string; start: number; end: number };

  const enterprise = () => Workspace.create(stack, 'enterprise');
  const invoiceBilling = (ws: Workspace, body: Record<string, unknown>) =>
    stack.admin.put(`/v1/admin/accounts/${ws.accountId}/invoice-billing`, body);
  const authorize = (ws: Workspace, model = UNIT) =>
    stack.gateway.post('/v1/authorize', { account_id: ws.accountId, model });
  /** Authorize, asked until it allows (at most a second: catalog caches follow changes that fast). */
  const authorizedWithin = (ws: Workspace, model = UNIT) =>
    waitFor(
      () => authorize(ws, model),
      (response) => response.status === 200,
      { timeoutMs: 2000, what: 'authorize to allow the request' },
    );
  const runStatements = (month: string, accountId?: string) =>
    stack.admin.post('/v1/admin/invoice-statements/run', {
      month,
      ...(accountId ? { account_id: accountId } : {}),
    });
  const ingest = async (events: TestEvent[]) => {
    for (let i = 0; i < events.length; i += 100) {
      const response = await stack.gateway.post('/v1/usage/events', { events: events.slice(i, i + 100) });
      expect({ status: response.status, body: response.body }).toEqual({
        status: 202,
        body: { accepted: Math.min(100, events.length - i), duplicates: 0 },
      });
    }
    await stack.drained();
  };
  const sql = () => stack.stores.sql;
  const ledgerSum = async (accountId: string, kind: string) => {
    const [{ total }] = await sql()<{ total: bigint }[]>`
      select coalesce(sum(amount_micros), 0)::bigint as total from ledger_entries
      where account_id = ${accountId} and kind = ${kind}::ledger_entry_kind`;
    return total;
  };
  const statementsOf = (accountId: string) =>
    sql()<{ id: string; number: string }[]>`
      select id, number from invoices where account_id = ${accountId} and kind = 'usage_statement'`;
  const balances = async (ws: Workspace) => {
    const gateway = await stack.gateway.get(`/v1/accounts/${ws.accountId}/balance`);
    return {
      gateway: gateway.body.balance as string,
      postgres: (await stack.stores.postgresBalances()).get(ws.accountId),
      redis: await stack.stores.redisBalance(ws.accountId),
    };
  };
  /** Usage of the previous month: `count` events per model, at hours before the month ended. */
  const previousMonthUsage = (ws: Workspace, seed: number, count: number): TestEvent[] => {
    const random = seededRandom(seed);
    return [LARGE, SMALL].flatMap((model) =>
      Array.from({ length: count }, (_, index) => ({
        ...usageEvent(ws.accountId, model, random),
        // Within the last 48 hours of the month: always inside ingest's 35-day window.
        occurred_at: new Date(previousMonth.end - (1 + (index % 47)) * HOUR - index * 1000).toISOString(),
      })),
    );
  };
  const costByModel = (events: TestEvent[]) => {
    const byModel = new Map<string, { micros: bigint; tokens: bigint }>();
    for (const event of events) {
      const entry = byModel.get(event.model) ?? { micros: 0n, tokens: 0n };
      entry.micros += expectedCostMicros(event, PRICES[event.model]);
      entry.tokens += BigInt(event.prompt_tokens + event.completion_tokens);
      byModel.set(event.model, entry);
    }
    return byModel;
  };

  beforeAll(async () => {
    await clearOfMonthEdges();
    const end = monthStart(Date.now());
    const start = monthStart(Date.now(), -1);
    previousMonth = { month: monthOf(start), start, end };
    await stack.start();
    await stack.setPrice(LARGE, '15.00', '60.00');
    await stack.setPrice(SMALL, '0.15', '0.60');
    await stack.setPrice(UNIT, '1.00', '1.00');
  }, 30 * 60_000);

  afterAll(async () => {
    await scheduler?.stop();
    await stack.stop();
  });

  describe('switching an account to invoice billing', () => {
    it('refuses a developer account with 409 enterprise_tier_required and changes nothing', async () => {
      const ws = await Workspace.create(stack, 'developer');
      const response = await invoiceBilling(ws, { payment_terms_days: 30, credit_limit: '100.00' });
      expect(response.status).toBe(409);
      expect(response.body.error.code).toBe('enterprise_tier_required');
      const terms = await stack.admin.get(`/v1/admin/accounts/${ws.accountId}/invoice-billing`);
      expect(terms.body).toEqual({
        account_id: ws.accountId,
        billing_mode: 'prepaid',
        payment_terms_days: null,
        credit_limit: '0.000000',
        invoice_billing_since: null,
        discount_tiers: [],
      });
    });

    it.each([
      [{ payment_terms_days: 45, credit_limit: '100.00' }],
      [{ payment_terms_days: 30, credit_limit: '-1' }],
      [
        {
          payment_terms_days: 30,
          credit_limit: '100.00',
          discount_tiers: [{ from: '0', discount_percent: '101' }],
        },
      ],
      [
        {
          payment_terms_days: 30,
          credit_limit: '100.00',
          discount_tiers: [
            { from: '5', discount_percent: '1' },
            { from: '5.00', discount_percent: '2' },
          ],
        },
      ],
    ])('answers 422 to bad terms %j, leaving the account prepaid', async (body) => {
      const ws = await enterprise();
      const response = await invoiceBilling(ws, body);
      expect(response.status).toBe(422);
      expect(response.body.error.code).toBe('validation_failed');
      const terms = await stack.admin.get(`/v1/admin/accounts/${ws.accountId}/invoice-billing`);
      expect(terms.body.billing_mode).toBe('prepaid');
    });

    it('sets terms, credit limit and tiers with an audit row; auto-reload and leaving enterprise are refused', async () => {
      const ws = await enterprise();
      const before = Date.now();
      const response = await invoiceBilling(ws, {
        payment_terms_days: 60,
        credit_limit: '5000.00',
        discount_tiers: [
          { from: '10000.00', discount_percent: '5' },
          { from: '0.00', discount_percent: '0' },
        ],
      });
      const expected = {
        account_id: ws.accountId,
        billing_mode: 'invoice',
        payment_terms_days: 60,
        credit_limit: '5000.000000',
        invoice_billing_since: response.body.invoice_billing_since,
        discount_tiers: [
          { from: '0.000000', discount_percent: '0' },
          { from: '10000.000000', discount_percent: '5' },
        ],
      };
      expect({ status: response.status, body: response.body }).toEqual({ status: 200, body: expected });
      // Invoice billing starts at the switch: usage charged before it was prepaid.
      const since = Date.parse(response.body.invoice_billing_since);
      expect(since).toBeGreaterThanOrEqual(before - 1000);
      expect(since).toBeLessThanOrEqual(Date.now() + 1000);
      expect((await stack.admin.get(`/v1/admin/accounts/${ws.accountId}/invoice-billing`)).body).toEqual(
        expected,
      );

      const audit = await stack.admin.get(`${ws.path}/audit-log?action=invoice_billing.enabled`);
      expect(audit.body.entries).toEqual([
        expect.objectContaining({
          action: 'invoice_billing.enabled',
          actor: { type: 'admin', id: null },
          before: expect.objectContaining({ billing_mode: 'prepaid' }),
          after: expect.objectContaining({
            billing_mode: 'invoice',
            payment_terms_days: 60,
            credit_limit_micros: '5000000000',
          }),
        }),
      ]);

      const reload = await stack.admin.put(`${ws.path}/auto-reload`, {
        enabled: true,
        threshold: '10.00',
        amount: '50.00',
      });
      expect(reload.status).toBe(409);
      expect(reload.body.error.code).toBe('invoice_billing');

      const downgrade = await stack.admin.request('PATCH', `/v1/admin/accounts/${ws.accountId}`, {
        tier: 'developer',
      });
      expect(downgrade.status).toBe(409);
      expect(downgrade.body.error.code).toBe('invoice_billing_requires_enterprise');
    });
  });

  describe('running on credit', () => {
    it('refuses paid requests only once the balance reaches -credit_limit', async () => {
      const ws = await enterprise();
      // Prepaid with nothing bought: refused.
      expect((await authorize(ws)).status).toBe(402);

      const switched = await invoiceBilling(ws, { payment_terms_days: 15, credit_limit: '1.00' });
      expect(switched.status).toBe(200);
      // Every process's catalog cache follows the change within a second.
      expect(await authorizedWithin(ws)).toMatchObject({
        status: 200,
        body: { allowed: true, balance: '0.000000' },
      });

      const unitEvent = (micros: number) => ({
        id: randomUUID(),
        account_id: ws.accountId,
        model: UNIT,
        prompt_tokens: micros,
        completion_tokens: 0,
      });
      await ingest([unitEvent(999_999)]);
      expect(await authorize(ws)).toMatchObject({
        status: 200,
        body: { allowed: true, balance: '-0.999999' },
      });

      await ingest([unitEvent(1)]);
      expect(await authorize(ws)).toMatchObject({
        status: 402,
        body: { allowed: false, reason: 'insufficient_credits', balance: '-1.000000' },
      });

      // A higher limit applies at once (catalog caches follow the change); invoice billing still
      // runs from the switch.
      const raised = await invoiceBilling(ws, { payment_terms_days: 15, credit_limit: '1.50' });
      expect(raised.status).toBe(200);
      expect(raised.body.invoice_billing_since).toBe(switched.body.invoice_billing_since);
      expect(await authorizedWithin(ws)).toMatchObject({
        status: 200,
        body: { allowed: true, balance: '-1.000000' },
      });

      // Owing money, it cannot go back to prepaid.
      const back = await stack.admin.delete(`/v1/admin/accounts/${ws.accountId}/invoice-billing`);
      expect(back.status).toBe(409);
      expect(back.body.error.code).toBe('balance_below_zero');
    });
  });

  describe('a month of enterprise usage', () => {
    let ws: Workspace;
    let events: TestEvent[];
    let invoiceId: string;

    beforeAll(async () => {
      ws = await enterprise();
      const profile = await stack.admin.put(`${ws.path}/billing-profile`, {
        legal_name: 'Acme Enterprise Inc.',
        address_line1: '1 Market St',
        city: 'San Francisco',
        region: 'CA',
        postal_code: '94105',
        country: 'US',
        purchase_order_number: 'PO-77812',
        billing_reference: 'ACME-AI-PLATFORM',
      });
      expect(profile.status).toBe(200);
      expect(
        (await invoiceBilling(ws, { payment_terms_days: 30, credit_limit: '50.00', discount_tiers: TIERS }))
          .status,
      ).toBe(200);
      // On invoice billing since before the month invoiced (the PUT records now).
      await backdateInvoiceBilling(stack, ws.accountId, previousMonth.start);
      events = previousMonthUsage(ws, 4242, 40);
      await ingest(events);
    }, 120_000);

    it('becomes one statement: a line per model, graduated discount, tax, due date per terms, PO and reference', async () => {
      const byModel = costByModel(events);
      const usageMicros = [...byModel.values()].reduce((sum, entry) => sum + entry.micros, 0n);
      // The ledger charged exactly the usage of those events.
      expect(await ledgerSum(ws.accountId, 'usage')).toBe(-usageMicros);

      const run = await runStatements(previousMonth.month);
      expect(run.status).toBe(200);
      const mine = run.body.issued.filter(
        (issued: { account_id: string }) => issued.account_id === ws.accountId,
      );
      expect(mine).toHaveLength(1);
      invoiceId = mine[0].invoice_id;

      const invoice = (await stack.admin.get(`${ws.path}/invoices/${invoiceId}`)).body;
      const lines = [LARGE, SMALL].sort().map((model) => byModel.get(model)!);
      const subtotal = lines.reduce((sum, line) => sum + centsHalfUp(line.micros), 0n);
      const discount = expectedDiscount(subtotal);
      // Both the 5 % and the 10 % tier apply to this month.
      expect(subtotal).toBeGreaterThan(3_000_000n);
      expect(discount).toBeGreaterThan(0n);
      const net = subtotal - discount;
      // 7.25 % California sales tax on the discounted amount, half a cent rounding up.
      const tax = ((2n * net * 72_500n + 1_000_000n * CENT) / (2n * 1_000_000n * CENT)) * CENT;
      const issueDay = invoice.issue_date as string;
      const due = isoDay(Date.parse(`${issueDay}T00:00:00Z`) + 30 * 24 * HOUR);

      expect(invoice).toMatchObject({
        kind: 'usage_statement',
        status: 'open',
        number: expect.stringMatching(/^INV-\d{4}-\d{6}$/),
        period: { start: isoDay(previousMonth.start), end: isoDay(previousMonth.end - 24 * HOUR) },
        due_date: due,
        purchase_order_number: 'PO-77812',
        billing_reference: 'ACME-AI-PLATFORM',
        bill_to: expect.objectContaining({ name: 'Acme Enterprise Inc.' }),
        lines: [LARGE, SMALL].sort().map((model, index) => ({
          position: index + 1,
          description: expect.stringContaining(model),
          model,
          quantity: byModel.get(model)!.tokens.toString(),
          amount: usd(centsHalfUp(byModel.get(model)!.micros)),
        })),
        subtotal: usd(subtotal),
        discount: usd(discount),
        tax: { jurisdiction: 'US-CA', rate_percent: '7.25', exempt: false, amount: usd(tax) },
        total: usd(net + tax),
        payment_method: null,
      });
      expect(run.body.issued).toContainEqual({
        account_id: ws.accountId,
        invoice_id: invoiceId,
        number: invoice.number,
        total: usd(net + tax),
      });
    });

    it("equals the ledger: the month's usage plus the statement's adjustment is the total before tax", async () => {
      const usage = await ledgerSum(ws.accountId, 'usage');
      const adjustment = await ledgerSum(ws.accountId, 'adjustment');
      const [row] = await sql()<
        { total_micros: bigint; tax_micros: bigint; discount_micros: bigint; subtotal_micros: bigint }[]
      >`
        select total_micros, tax_micros, discount_micros, subtotal_micros from invoices where id = ${invoiceId}`;
      // The adjustment is the discount plus the sub-cent rounding of the lines, nothing else.
      expect(adjustment).toBe(row.discount_micros + (-usage - row.subtotal_micros));
      expect(-(usage + adjustment)).toBe(row.total_micros - row.tax_micros);
      const balance = await balances(ws);
      expect(balance).toEqual({
        gateway: usd(usage + adjustment),
        postgres: usage + adjustment,
        redis: usage + adjustment,
      });
    });

    it('stays one statement when the month is run again, twice at once', async () => {
      const before = await statementsOf(ws.accountId);
      const runs = await Promise.all([
        runStatements(previousMonth.month),
        runStatements(previousMonth.month, ws.accountId),
        runStatements(previousMonth.month),
      ]);
      for (const run of runs) {
        expect(run.status).toBe(200);
        expect(run.body.issued.map((issued: { account_id: string }) => issued.account_id)).not.toContain(
          ws.accountId,
        );
      }
      expect(await statementsOf(ws.accountId)).toEqual(before);
      expect(before).toHaveLength(1);
      const [{ adjustments }] = await sql()<{ adjustments: number }[]>`
        select count(*)::int as adjustments from ledger_entries where account_id = ${ws.accountId} and kind = 'adjustment'`;
      expect(adjustments).toBe(1);
    });

    it('refuses a month that has not ended', async () => {
      const response = await runStatements(monthOf(Date.now()));
      expect(response.status).toBe(422);
      expect(response.body.error.code).toBe('period_not_ended');
    });

    it('turns overdue once past its due date, in the admin list and the metrics', async () => {
      // Time passes: the due date is yesterday.
      await sql()`update invoices set due_date = (now() at time zone 'UTC')::date - 1 where id = ${invoiceId}`;
      const overdue = await waitFor(
        () => stack.admin.get(`/v1/admin/invoices?status=overdue&account_id=${ws.accountId}`),
        (response) => response.body?.invoices?.length === 1,
        { what: 'the statement to be listed as overdue' },
      );
      expect(overdue.body.invoices[0]).toMatchObject({ id: invoiceId, status: 'overdue' });

      const [row] = await sql()<
        { total_micros: bigint }[]
      >`select total_micros from invoices where id = ${invoiceId}`;
      const metrics = await fetch(`${stack.workers[0].url}/metrics`).then((response) => response.text());
      const count = /^billing_invoices_overdue\{[^}]*\} (\d+)$/m.exec(metrics);
      const amount = /^billing_invoices_overdue_micros\{[^}]*\} (\d+)$/m.exec(metrics);
      expect(Number(count?.[1])).toBe(1);
      expect(BigInt(amount?.[1] ?? '0')).toBe(row.total_micros);

      // Its PDF is drawn again with the new status.
      await waitFor(
        () => statementPdfText(invoiceId),
        (text) => text?.includes('OVERDUE') ?? false,
        { what: 'the PDF to show the statement overdue' },
      );

      const audit = await stack.admin.get(`${ws.path}/audit-log?action=invoice.overdue`);
      expect(audit.body.entries).toEqual([
        expect.objectContaining({
          actor: { type: 'system', id: null },
          target: { type: 'invoice', id: invoiceId },
        }),
      ]);
    });

    it('a recorded payment marks it paid once and brings the balance back to zero', async () => {
      const [row] = await sql()<{ total_micros: bigint; tax_micros: bigint }[]>`
        select total_micros, tax_micros from invoices where id = ${invoiceId}`;
      const path = `/v1/admin/invoices/${invoiceId}/payments`;
      const key = randomUUID();
      const [first, concurrent] = await Promise.all([
        stack.admin.post(path, { reference: 'WIRE-123' }, { 'idempotency-key': key }),
        stack.admin.post(path, { reference: 'WIRE-123' }, { 'idempotency-key': key }),
      ]);
      expect(first.status).toBe(200);
      expect(first.body).toEqual({
        invoice_id: invoiceId,
        number: expect.any(String),
        status: 'paid',
        paid_at: expect.any(String),
        credited: usd(row.total_micros - row.tax_micros),
        balance: '0.000000',
      });
      expect({ status: concurrent.status, body: concurrent.body }).toEqual({ status: 200, body: first.body });

      const other = await stack.admin.post(path, {}, { 'idempotency-key': randomUUID() });
      expect(other.status).toBe(409);
      expect(other.body.error.code).toBe('invoice_already_paid');
      const missing = await stack.admin.post(path, {});
      expect(missing.status).toBe(400);

      expect(await ledgerSum(ws.accountId, 'invoice_payment')).toBe(row.total_micros - row.tax_micros);
      expect(await balances(ws)).toEqual({ gateway: '0.000000', postgres: 0n, redis: 0n });
      expect(await stack.stores.pendingCount(ws.accountId)).toBe(0);
      const invoice = (await stack.admin.get(`${ws.path}/invoices/${invoiceId}`)).body;
      expect(invoice).toMatchObject({ status: 'paid', paid_at: first.body.paid_at });
      const paidPdf = await waitFor(
        () => statementPdfText(invoiceId),
        (text) => text?.includes('Paid in full on') ?? false,
        { what: 'the PDF to show the statement paid' },
      );
      expect(paidPdf).toContain('PAID');
      expect(paidPdf).not.toContain('Please pay');
      expect(await authorize(ws, LARGE)).toMatchObject({ status: 200, body: { allowed: true } });

      // Nothing owed: the account may return to prepaid, where a zero balance runs nothing.
      const back = await stack.admin.delete(`/v1/admin/accounts/${ws.accountId}/invoice-billing`);
      expect(back.body).toMatchObject({
        billing_mode: 'prepaid',
        credit_limit: '0.000000',
        invoice_billing_since: null,
        discount_tiers: [],
      });
      const refused = await waitFor(
        () => authorize(ws, LARGE),
        (response) => response.status === 402,
        { timeoutMs: 2000, what: 'authorize to see the account prepaid again' },
      );
      expect(refused.body).toMatchObject({ reason: 'insufficient_credits', balance: '0.000000' });
    });

    it('a status changed by a process that died before queuing the re-render is drawn by the sweep', async () => {
      // What the overdue run commits, without the render it queues after the commit.
      await sql()`update invoices set status = 'overdue', updated_at = now() where id = ${invoiceId}`;
      await waitFor(
        () => statementPdfText(invoiceId),
        (text) => (text?.includes('OVERDUE') && !text.includes('Paid in full on')) ?? false,
        { what: 'the sweep to draw the PDF overdue' },
      );
      // And back, as the payment left it.
      await sql()`update invoices set status = 'paid', updated_at = now() where id = ${invoiceId}`;
      await waitFor(
        () => statementPdfText(invoiceId),
        (text) => text?.includes('Paid in full on') ?? false,
        { what: 'the sweep to draw the PDF paid again' },
      );
      const [row] = await sql()<
        { pdf_status: string }[]
      >`select pdf_status from invoices where id = ${invoiceId}`;
      expect(row.pdf_status).toBe('paid');
    });
  });

  describe('the start of invoice billing', () => {
    it('issues no statement of a month that ended before the switch, not even for usage of it sent after', async () => {
      const ws = await enterprise();
      expect((await invoiceBilling(ws, { payment_terms_days: 30, credit_limit: '100.00' })).status).toBe(200);
      // Usage of last month, sent after the switch: charged on credit, so owed, on the statement of
      // this month (statement-billing-start.e2e-spec.ts), since last month was prepaid.
      const events = previousMonthUsage(ws, 99, 3);
      await ingest(events);
      const usage = [...costByModel(events).values()].reduce((sum, entry) => sum + entry.micros, 0n);
      expect(await ledgerSum(ws.accountId, 'usage')).toBe(-usage);

      const run = await runStatements(previousMonth.month, ws.accountId);
      expect(run.status).toBe(200);
      expect(run.body).toMatchObject({ issued: [], already_issued: 0, without_usage: 0, failed: [] });
      expect(await statementsOf(ws.accountId)).toEqual([]);
    });
  });

  describe('the monthly job', () => {
    it('issues a missing statement of the previous month by itself, and no second one of a month already invoiced', async () => {
      const ws = await enterprise();
      expect((await invoiceBilling(ws, { payment_terms_days: 15, credit_limit: '100.00' })).status).toBe(200);
      await backdateInvoiceBilling(stack, ws.accountId, previousMonth.start);
      const events = previousMonthUsage(ws, 777, 5);
      await ingest(events);
      const invoicedBefore = await sql()<{ account_id: string; n: number }[]>`
        select account_id, count(*)::int as n from invoices where kind = 'usage_statement' group by account_id`;

      // A worker with the schedule on (as in production, where it runs hourly).
      scheduler = await new AppProcess('usage-worker', {
        ...stack.appEnv,
        INVOICE_STATEMENT_INTERVAL_MS: '500',
        INVOICE_OVERDUE_INTERVAL_MS: '500',
      }).start();
      const [statement] = await waitFor(
        () => statementsOf(ws.accountId),
        (rows) => rows.length === 1,
        {
          what: 'the scheduled job to issue the statement',
        },
      );
      const invoice = (await stack.admin.get(`${ws.path}/invoices/${statement.id}`)).body;
      const expectedSubtotal = [...costByModel(events).values()].reduce(
        (sum, e) => sum + centsHalfUp(e.micros),
        0n,
      );
      expect(invoice).toMatchObject({
        status: 'open',
        period: { start: isoDay(previousMonth.start) },
        subtotal: usd(expectedSubtotal),
        discount: '0.000000',
      });

      // The job keeps running (and an admin run on top of it): still one statement per account and month.
      expect((await runStatements(previousMonth.month)).body.issued).toEqual([]);
      const later = await sql()<{ account_id: string; n: number }[]>`
        select account_id, count(*)::int as n from invoices where kind = 'usage_statement' group by account_id`;
      expect(later.every((row) => row.n === 1)).toBe(true);
      expect(later).toHaveLength(invoicedBefore.length + 1);
    });
  });
});
