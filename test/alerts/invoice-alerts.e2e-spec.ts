import { randomUUID } from 'node:crypto';
import { buyAndGetInvoice, recordedPdf, setBillingProfile } from '../invoices/invoice-pdf-helpers';
import { BillingStack } from '../support/billing-stack';
import { saveCard } from '../support/cards';
import { ReceivedEmail } from '../support/smtp-sink';
import { backdateInvoiceBilling } from '../support/statement-usage';
import { waitFor } from '../support/wait-for';
import { Workspace } from '../support/workspace';

/** $1 per million tokens: one micro per token. */
const UNIT = 'acme/unit-invoice-alerts';
const BILLING_EMAIL = 'owner@example.test';

/** "$1,234.57": cents half up, thousands separated, as the emails print money. */
function dollars(usd: string): string {
  const [whole, fraction] = usd.split('.');
  const micros = BigInt(whole) * 1_000_000n + BigInt(fraction.padEnd(6, '0'));
  const cents = (micros + 5_000n) / 10_000n;
  return `$${(cents / 100n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',')}.${String(cents % 100n).padStart(2, '0')}`;
}

/**
 * Invoice emails (issue 6 item 2, issue 5 item 6): a purchase's invoice is mailed once its PDF
 * exists, with a link to the PDF route; an enterprise statement is mailed as due; an overdue
 * invoice once. Each exactly once, through a real SMTP server, whatever re-renders or reruns.
 */
describe('invoice alerts', () => {
  const stack = new BillingStack({
    workers: 1,
    stripe: true,
    s3: true,
    smtp: true,
    env: { PUBLIC_API_URL: 'https://billing.example.test' },
    workerEnv: {
      PUBLIC_API_URL: 'https://billing.example.test',
      // The render sweep picks up a PDF whose record was lost within a second.
      INVOICE_RENDER_SWEEP_INTERVAL_MS: '500',
      INVOICE_RENDER_SWEEP_AGE_SECONDS: '0',
      INVOICE_OVERDUE_INTERVAL_MS: '500',
      INVOICE_STATEMENT_INTERVAL_MS: '0',
      // Alerts whose email was never handed on (the raiser died after its commit) go within seconds.
      ALERT_EMAIL_SWEEP_INTERVAL_MS: '500',
      ALERT_EMAIL_SWEEP_AGE_MS: '2000',
    },
  });

  beforeAll(async () => {
    await stack.start();
    await stack.setPrice(UNIT, '1.00', '1.00');
  }, 120_000);

  afterAll(() => stack.stop());

  /** Emails to the billing email that mention this invoice number. */
  const mailsAbout = (number: string): ReceivedEmail[] =>
    stack.smtp!.to(BILLING_EMAIL).filter((m) => m.subject.includes(number) || m.text.includes(number));
  const ofKind = (mails: ReceivedEmail[], pattern: RegExp) => mails.filter((m) => pattern.test(m.subject));
  const alertsOf = (invoiceId: string) =>
    stack.stores.sql<{ kind: string; dedupe_key: string }[]>`
      select kind::text, dedupe_key from alerts where details->>'invoice_id' = ${invoiceId} order by kind`;

  it('mails a purchase invoice once its PDF is ready, with number, total and the PDF link, and never again', async () => {
    const ws = await Workspace.create(stack);
    await setBillingProfile(stack, ws);
    await saveCard(stack, ws);
    const invoice = await buyAndGetInvoice(stack, ws, '500.00');

    const [ready] = await waitFor(
      async () => ofKind(mailsAbout(invoice.number), /is ready/),
      (mails) => mails.length >= 1,
      { what: 'the invoice ready email', timeoutMs: 60_000 },
    );
    expect(ready.recipient).toBe(BILLING_EMAIL);
    expect(ready.subject).toContain(`invoice ${invoice.number} for ${dollars(invoice.total)} is ready`);
    expect(ready.text).toContain(`Invoice ${invoice.number} is ready`);
    expect(ready.text).toContain(dollars(invoice.total));
    expect(ready.text).toContain(dollars(invoice.tax.amount));
    expect(ready.text).toContain('PO-7781');
    expect(ready.text).toContain(
      `https://billing.example.test/v1/accounts/${ws.accountId}/invoices/${invoice.id}/pdf`,
    );
    // The PDF was recorded before the email went.
    expect((await recordedPdf(stack, invoice.id)).pdf_sha256).not.toBeNull();

    // The PDF record is lost and the sweep renders and records it again: no second email.
    await stack.stores.sql`update invoices set pdf_key = null, pdf_sha256 = null where id = ${invoice.id}`;
    await waitFor(
      () => recordedPdf(stack, invoice.id),
      (row) => row.pdf_sha256 !== null,
      { what: 'the sweep to record the PDF again', timeoutMs: 30_000 },
    );
    await stack.drained();
    expect(await alertsOf(invoice.id)).toEqual([
      { kind: 'invoice_ready', dedupe_key: `invoice_ready:${invoice.id}` },
    ]);
    expect(ofKind(mailsAbout(invoice.number), /is ready/)).toHaveLength(1);
    expect(mailsAbout(invoice.number)).toHaveLength(1);
  });

  it('mails an enterprise statement as ready and due, once as due soon, then once as overdue', async () => {
    const ws = await Workspace.create(stack, 'enterprise');
    const terms = await stack.admin.put(`/v1/admin/accounts/${ws.accountId}/invoice-billing`, {
      payment_terms_days: 30,
      credit_limit: '100.00',
    });
    expect(terms.status).toBe(200);

    // Usage in the last hours of the previous month: 2,500,000 tokens = $2.50.
    const now = new Date();
    const monthStart = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1);
    const month = new Date(monthStart - 1).toISOString().slice(0, 7);
    // On invoice billing since the start of that month (the PUT records now).
    await backdateInvoiceBilling(
      stack,
      ws.accountId,
      Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1),
    );
    const events = [1, 2].map((hours) => ({
      id: randomUUID(),
      account_id: ws.accountId,
      model: UNIT,
      prompt_tokens: 1_000_000,
      completion_tokens: 250_000,
      occurred_at: new Date(monthStart - hours * 3_600_000).toISOString(),
    }));
    const ingested = await stack.gateway.post('/v1/usage/events', { events });
    expect(ingested.status).toBe(202);
    await stack.drained();

    const run = await stack.admin.post('/v1/admin/invoice-statements/run', {
      month,
      account_id: ws.accountId,
    });
    expect(run.status).toBe(200);
    const [statement] = await stack.stores.sql<
      { id: string; number: string; total_micros: bigint; due_date: string }[]
    >`
      select id, number, total_micros, due_date::text as due_date from invoices
      where account_id = ${ws.accountId} and kind = 'usage_statement'`;
    expect(statement.total_micros).toBe(2_500_000n);

    const mails = await waitFor(
      async () => mailsAbout(statement.number),
      (found) => ofKind(found, /is due on/).length >= 1 && ofKind(found, /is ready/).length >= 1,
      { what: 'the statement ready and due emails', timeoutMs: 60_000 },
    );
    const [due] = ofKind(mails, /is due on/);
    const dueOn = new Date(`${statement.due_date}T00:00:00Z`);
    const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
    const dueText = `${months[dueOn.getUTCMonth()]} ${dueOn.getUTCDate()}, ${dueOn.getUTCFullYear()}`;
    expect(due.recipient).toBe(BILLING_EMAIL);
    expect(due.subject).toContain(`invoice ${statement.number} for $2.50 is due on ${dueText}`);
    expect(due.text).toContain(`Invoice ${statement.number} is due in 30 days`);
    expect(due.text).toContain(`Due date:         ${dueText}`);

    // A second run issues nothing and mails nothing.
    expect(
      (await stack.admin.post('/v1/admin/invoice-statements/run', { month, account_id: ws.accountId }))
        .status,
    ).toBe(200);

    // 28 days later the due date is two days away: one reminder, whoever runs the marker how often.
    await stack.stores.sql`
      update invoices set issued_at = issued_at - interval '28 days',
                          due_date = (now() at time zone 'UTC')::date + 2
      where id = ${statement.id}`;
    await Promise.all([1, 2, 3].map(() => stack.admin.post('/v1/admin/invoice-statements/mark-overdue')));
    const reminders = await waitFor(
      async () => ofKind(mailsAbout(statement.number), /is due on/),
      (found) => found.length >= 2,
      { what: 'the reminder two days before the due date', timeoutMs: 60_000 },
    );
    expect(reminders[1].text).toContain(`Invoice ${statement.number} is due in 2 days`);

    // Time passes: the due date was yesterday. The worker's marker and the admin route race.
    await stack.stores
      .sql`update invoices set due_date = (now() at time zone 'UTC')::date - 1 where id = ${statement.id}`;
    expect((await stack.admin.post('/v1/admin/invoice-statements/mark-overdue')).status).toBeLessThan(300);
    const [overdue] = await waitFor(
      async () => ofKind(mailsAbout(statement.number), /^Overdue/),
      (found) => found.length >= 1,
      { what: 'the overdue email', timeoutMs: 60_000 },
    );
    expect(overdue.recipient).toBe(BILLING_EMAIL);
    expect(overdue.text).toContain(`Invoice ${statement.number} is overdue`);
    expect(overdue.text).toContain('$2.50');
    expect(overdue.text).toContain('Days overdue:     1');

    await stack.admin.post('/v1/admin/invoice-statements/mark-overdue');
    await stack.drained();
    expect((await alertsOf(statement.id)).map((alert) => alert.dedupe_key).sort()).toEqual(
      [
        `invoice_due:${statement.id}`,
        `invoice_due_soon:${statement.id}`,
        `invoice_overdue:${statement.id}`,
        `invoice_ready:${statement.id}`,
      ].sort(),
    );
    const all = mailsAbout(statement.number);
    expect(ofKind(all, /is ready/)).toHaveLength(1);
    expect(ofKind(all, /is due on/)).toHaveLength(2);
    expect(ofKind(all, /^Overdue/)).toHaveLength(1);
    expect(all).toHaveLength(4);
  });

  it('mails a statement as due even when the api dies right after committing it', async () => {
    const ws = await Workspace.create(stack, 'enterprise');
    await stack.admin.put(`/v1/admin/accounts/${ws.accountId}/invoice-billing`, {
      payment_terms_days: 15,
      credit_limit: '100.00',
    });
    const monthStart = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), 1);
    const month = new Date(monthStart - 1).toISOString().slice(0, 7);
    await backdateInvoiceBilling(
      stack,
      ws.accountId,
      Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth() - 1, 1),
    );
    const usage = {
      id: randomUUID(),
      account_id: ws.accountId,
      model: UNIT,
      prompt_tokens: 3_000_000,
      completion_tokens: 0,
      occurred_at: new Date(monthStart - 3_600_000).toISOString(),
    };
    expect((await stack.gateway.post('/v1/usage/events', { events: [usage] })).status).toBe(202);
    await stack.drained();

    // The api is killed (SIGKILL) right after the statement's transaction commits.
    await stack.api.stop();
    await stack.api.start({ FAILPOINT: 'after-statement-commit' });
    await stack.admin
      .post('/v1/admin/invoice-statements/run', { month, account_id: ws.accountId })
      .catch(() => undefined); // the connection dies with the process
    expect(await stack.api.waitForExit()).toBeNull();
    await stack.api.start();

    const [statement] = await stack.stores.sql<{ id: string; number: string }[]>`
      select id, number from invoices where account_id = ${ws.accountId} and kind = 'usage_statement'`;
    // The due alert committed with the statement; the email sweep mails it, and the render sweep
    // the PDF its ready email waits for.
    expect(await alertsOf(statement.id)).toContainEqual({
      kind: 'invoice_due',
      dedupe_key: `invoice_due:${statement.id}`,
    });
    const mails = await waitFor(
      async () => mailsAbout(statement.number),
      (found) => ofKind(found, /is due on/).length >= 1 && ofKind(found, /is ready/).length >= 1,
      { what: 'the statement due and ready emails after the crash', timeoutMs: 60_000 },
    );
    expect(ofKind(mails, /is due on/)[0].subject).toContain(
      `invoice ${statement.number} for $3.00 is due on`,
    );
    await stack.drained();
    expect(ofKind(mailsAbout(statement.number), /is due on/)).toHaveLength(1);
  }, 120_000);
});
