import { ALERT_KINDS, SAMPLE_ALERT_DETAILS } from '@app/notifications';
import { alertEmailJobId, JobName, QueueName } from '@app/queue';
import { Queue } from 'bullmq';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BillingStack } from '../support/billing-stack';
import { SmtpSink } from '../support/smtp-sink';
import { waitFor } from '../support/wait-for';
import { accountWithEmail, deliveriesOf, FAST_SWEEP, raiseAlert, settledDeliveries } from './alert-fixtures';

const HOURLY_LIMIT = 5;

/** What each kind's email must say (subject and both parts), from the sample details. */
const EXPECTED: Record<(typeof ALERT_KINDS)[number], { subject: RegExp; figures: string[] }> = {
  budget_threshold: {
    subject: /77\.52% of the November 2026 budget used \(\$387\.60 of \$500\.00\)/,
    figures: ['$387.60', '$500.00', '$21.48 / day', '$17.91 / day', '$459.21', '92% of the $500.00 budget'],
  },
  low_balance: { subject: /credit balance is low \(\$8\.42 left\)/, figures: ['$8.42', '$10.00', '$11.00'] },
  auto_reload_succeeded: {
    subject: /auto-reload added \$50\.00 in credits/,
    figures: ['$50.00', '$54.87', 'Visa ending in 4242'],
  },
  auto_reload_declined: {
    subject: /^Action needed: .* auto-reload of \$50\.00 was declined/,
    figures: ['$50.00', '$3.91', 'insufficient funds', 'Mastercard ending in 4444'],
  },
  auto_reload_action_required: {
    subject: /^Action needed: confirm the \$50\.00 auto-reload/,
    figures: ['$50.00', '$4.20'],
  },
  auto_reload_paused: {
    subject: /^Action needed: auto-reload is paused/,
    figures: ['$2.05', 'Card declined'],
  },
  invoice_ready: {
    subject: /invoice INV-2026-000142 for \$1,250\.00 is ready/,
    figures: ['INV-2026-000142', '$1,250.00', 'PO-88412', 'https://billing.example.com/invoices/'],
  },
  invoice_due: {
    subject: /for \$1,250\.00 is due on Dec 1, 2026/,
    figures: ['$1,250.00', 'Dec 1, 2026', 'in 3 days'],
  },
  invoice_overdue: {
    subject: /^Overdue: .* was due on Dec 1, 2026/,
    figures: ['$1,250.00', 'Dec 1, 2026', '7 days'],
  },
};

describe('alert emails over SMTP', () => {
  const stack = new BillingStack({
    smtp: true,
    workerEnv: { ...FAST_SWEEP, EMAIL_ACCOUNT_HOURLY_LIMIT: String(HOURLY_LIMIT) },
  });
  let smtp: SmtpSink;
  let emails: Queue;

  beforeAll(async () => {
    await stack.start();
    smtp = stack.smtp!;
    const url = new URL(stack.stores.redisUrl);
    emails = new Queue(QueueName.Emails, {
      connection: { host: url.hostname, port: Number(url.port || 6379) },
      prefix: stack.stores.bullPrefix,
    });
  });

  afterAll(async () => {
    await emails?.close();
    await stack.stop();
  });

  it.each(ALERT_KINDS)(
    'mails a %s alert once to each recipient, with its figures in both parts',
    async (kind) => {
      const account = await accountWithEmail(stack, kind.replace(/_/g, '-'));
      const extra = `ops-${account.email}`;
      await stack.stores.sql`
      insert into alert_settings (account_id, recipients) values (${account.id}, ${[extra, account.email.toUpperCase()]})`;
      const alertId = await raiseAlert(stack, account.id, kind);

      const rows = await settledDeliveries(stack, alertId, 2);
      expect(rows.map((row) => [row.recipient, row.status, row.attempts])).toEqual(
        [account.email, extra].sort().map((recipient) => [recipient, 'sent', 1]),
      );
      for (const recipient of [account.email, extra]) {
        const [message, ...more] = smtp.to(recipient);
        expect(more).toHaveLength(0);
        expect(message.subject).toContain(`Acme ${kind.replace(/_/g, '-')}`);
        expect(message.subject).toMatch(EXPECTED[kind].subject);
        for (const figure of EXPECTED[kind].figures) {
          expect(message.text).toContain(figure);
          expect(message.html).toContain(figure);
        }
        expect(message.from).toContain('billing@example.com');
        // The Message-ID recorded is the one the recipient got: stable per delivery row.
        const row = rows.find((r) => r.recipient === recipient)!;
        expect(row.smtp_message_id).toBe(message.messageId);
        expect(message.headers.get('x-billing-alert-id')).toBe(alertId);
      }
      if (process.env.SAVE_ALERT_EMAILS_TO) {
        // For looking at what a mail client gets: `chromium --headless --screenshot` on these files.
        mkdirSync(process.env.SAVE_ALERT_EMAILS_TO, { recursive: true });
        writeFileSync(join(process.env.SAVE_ALERT_EMAILS_TO, `${kind}.html`), smtp.to(account.email)[0].html);
        writeFileSync(join(process.env.SAVE_ALERT_EMAILS_TO, `${kind}.txt`), smtp.to(account.email)[0].text);
      }
    },
  );

  it("adds a budget's own recipients to its budget alerts", async () => {
    const account = await accountWithEmail(stack, 'budget-recipients');
    const [budget] = await stack.stores.sql<{ id: string }[]>`
      insert into budgets (account_id, scope, amount_micros, recipients)
      values (${account.id}, 'account', 500000000, ${['finance@example.test']}) returning id`;
    const alertId = await raiseAlert(stack, account.id, 'budget_threshold', {
      ...SAMPLE_ALERT_DETAILS.budget_threshold,
      budget_id: budget.id,
    });
    const rows = await settledDeliveries(stack, alertId, 2);
    expect(rows.map((row) => row.recipient)).toEqual([account.email, 'finance@example.test'].sort());
    expect(
      smtp.to('finance@example.test').filter((m) => m.headers.get('x-billing-alert-id') === alertId),
    ).toHaveLength(1);
  });

  it('never mails an alert twice, however often it is enqueued', async () => {
    const account = await accountWithEmail(stack, 'enqueued-twice');
    const alertId = await raiseAlert(stack, account.id, 'auto_reload_succeeded');
    await settledDeliveries(stack, alertId, 1);
    // The raiser retrying its enqueue after the job finished: a new job, nothing new to send.
    const again = await emails.add(JobName.SendAlertEmail, { alertId }, { jobId: alertEmailJobId(alertId) });
    await waitFor(
      () => emails.getJobState(again.id!),
      (state) => state === 'completed' || state === 'unknown',
      {
        what: 'the repeated job to finish',
      },
    );
    expect(smtp.to(account.email)).toHaveLength(1);
    expect((await deliveriesOf(stack, alertId))[0].attempts).toBe(1);
  });

  it('suppresses budget and low-balance alerts when non-essential alerts are off, never payment or invoice notices', async () => {
    const account = await accountWithEmail(stack, 'opted-out');
    await stack.stores.sql`
      insert into alert_settings (account_id, non_essential_enabled) values (${account.id}, false)`;
    const budget = await raiseAlert(stack, account.id, 'budget_threshold');
    const low = await raiseAlert(stack, account.id, 'low_balance');
    const declined = await raiseAlert(stack, account.id, 'auto_reload_declined');
    const overdue = await raiseAlert(stack, account.id, 'invoice_overdue');

    expect((await settledDeliveries(stack, budget, 1))[0]).toMatchObject({
      status: 'suppressed',
      attempts: 0,
    });
    expect((await settledDeliveries(stack, low, 1))[0]).toMatchObject({ status: 'suppressed', attempts: 0 });
    expect((await settledDeliveries(stack, declined, 1))[0].status).toBe('sent');
    expect((await settledDeliveries(stack, overdue, 1))[0].status).toBe('sent');
    const kinds = smtp.to(account.email).map((m) => m.headers.get('x-billing-alert-kind'));
    expect(kinds.sort()).toEqual(['auto_reload_declined', 'invoice_overdue']);
  });

  it(`stops a storm at ${HOURLY_LIMIT} emails per account per hour and records the rest as suppressed`, async () => {
    const account = await accountWithEmail(stack, 'storm');
    const alerts = [];
    for (let i = 0; i < HOURLY_LIMIT + 3; i++)
      alerts.push(await raiseAlert(stack, account.id, 'invoice_due'));
    const rows = (await Promise.all(alerts.map((id) => settledDeliveries(stack, id, 1)))).flat();
    expect(rows.filter((row) => row.status === 'sent')).toHaveLength(HOURLY_LIMIT);
    const suppressed = rows.filter((row) => row.status === 'suppressed');
    expect(suppressed).toHaveLength(3);
    expect(suppressed[0].last_error).toMatch(/limit of 5 emails per account per hour/);
    expect(smtp.to(account.email)).toHaveLength(HOURLY_LIMIT);
  });

  describe.each([
    ['stopped (connection refused)', 'stop'],
    ['answering 421 (try again later)', 'refuse'],
  ] as const)('while the SMTP server is %s', (_label, outage) => {
    it('retries with back-off and, once it is back, delivers every pending email exactly once', async () => {
      const account = await accountWithEmail(stack, `outage-${outage}`);
      const extra = `cfo-${account.email}`;
      await stack.stores
        .sql`insert into alert_settings (account_id, recipients) values (${account.id}, ${[extra]})`;
      if (outage === 'stop') await smtp.stop();
      else smtp.refuseWith = 421;
      try {
        const alerts = [
          await raiseAlert(stack, account.id, 'auto_reload_declined'),
          await raiseAlert(stack, account.id, 'invoice_ready'),
        ];
        // Every alert has failed at least twice: the server was really down for a while.
        await waitFor(
          async () => (await Promise.all(alerts.map((id) => deliveriesOf(stack, id)))).flat(),
          (rows) =>
            rows.length >= alerts.length &&
            rows.some((r) => r.attempts >= 2) &&
            rows.every((r) => r.status !== 'sent'),
          { timeoutMs: 30_000, what: 'failed SMTP attempts' },
        );
        const failing = (await Promise.all(alerts.map((id) => deliveriesOf(stack, id)))).flat();
        expect(failing.every((row) => row.status === 'pending' || row.status === 'sending')).toBe(true);
        expect(failing.some((row) => row.last_error)).toBe(true);
        expect(smtp.to(account.email)).toHaveLength(0);

        if (outage === 'stop') await smtp.start();
        else smtp.refuseWith = null;
        const rows = (await Promise.all(alerts.map((id) => settledDeliveries(stack, id, 2)))).flat();
        expect(rows.every((row) => row.status === 'sent')).toBe(true);
        // No email job is left that could send anything again (the sweep's next run is the only delayed job).
        await waitFor(
          async () =>
            (await emails.getJobs(['waiting', 'active', 'delayed'])).filter(
              (job) => job?.name === JobName.SendAlertEmail,
            ),
          (jobs) => jobs.length === 0,
          { what: 'the email jobs to finish' },
        );
        for (const recipient of [account.email, extra]) {
          const received = smtp.to(recipient).map((m) => m.headers.get('x-billing-alert-id'));
          expect(received.sort()).toEqual([...alerts].sort());
        }
      } finally {
        if (outage === 'stop') await smtp.start().catch(() => undefined);
        smtp.refuseWith = null;
      }
    });
  });

  it('counts sent emails and SMTP latency in the worker metrics', async () => {
    const text = await (await fetch(`${stack.workers[0].url}/metrics`)).text();
    expect(text).toMatch(
      /billing_alert_emails_total\{[^}]*kind="budget_threshold"[^}]*outcome="sent"[^}]*\} [1-9]/,
    );
    expect(text).toMatch(/billing_alert_emails_total\{[^}]*outcome="suppressed"[^}]*\} [1-9]/);
    expect(text).toMatch(/billing_alert_emails_total\{[^}]*outcome="retried"[^}]*\} [1-9]/);
    expect(text).toMatch(/billing_smtp_send_duration_seconds_count\{[^}]*outcome="sent"[^}]*\} [1-9]/);
  });
});
