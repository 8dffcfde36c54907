import { AppProcess } from '../support/app-process';
import { BillingStack } from '../support/billing-stack';
import { accountWithEmail, deliveriesOf, FAST_SWEEP, raiseAlert, settledDeliveries } from './alert-fixtures';

/** Short, so the killed worker's job is redelivered within seconds. */
const WORKER_ENV = { ...FAST_SWEEP, USAGE_LOCK_DURATION_MS: '2000', EMAIL_SENDING_STALE_MS: '1500' };

/**
 * Judged d: the email worker is killed (SIGKILL, FAILPOINT=after-smtp-send) after the SMTP server
 * accepted a message and before its delivery row says sent. After a restart, the recipient has
 * exactly the one email the dedupe key allows (README, "Alert emails": a row left sending is never
 * sent again), and the alert's other recipients still get theirs, once.
 */
describe('an email worker killed after the SMTP send', () => {
  const stack = new BillingStack({ smtp: true, workers: 0 });

  beforeAll(() => stack.start());
  afterAll(() => stack.stop());

  it('leaves each recipient with exactly one email for the alert after a restart', async () => {
    const doomed = new AppProcess('usage-worker', { ...stack.appEnv, ...WORKER_ENV });
    await doomed.start({ FAILPOINT: 'after-smtp-send' });
    const account = await accountWithEmail(stack, 'crash');
    const second = `zz-second-${account.email}`; // sorts after the billing email: mailed second
    await stack.stores
      .sql`insert into alert_settings (account_id, recipients) values (${account.id}, ${[second]})`;
    const alertId = await raiseAlert(stack, account.id, 'auto_reload_declined');

    expect(await doomed.waitForExit()).toBeNull(); // killed by its own SIGKILL
    const smtp = stack.smtp!;
    expect(smtp.to(account.email)).toHaveLength(1); // the server has it …
    const [first, pending] = await deliveriesOf(stack, alertId);
    expect(first).toMatchObject({ recipient: account.email, status: 'sending', attempts: 1 }); // … the row does not say so
    expect(pending).toMatchObject({ recipient: second, status: 'pending', attempts: 0 });

    const survivor = new AppProcess('usage-worker', { ...stack.appEnv, ...WORKER_ENV });
    stack.workers.push(survivor);
    await survivor.start();

    const rows = await settledDeliveries(stack, alertId, 2);
    expect(rows[0]).toMatchObject({ recipient: account.email, status: 'failed', attempts: 1 });
    expect(rows[0].last_error).toMatch(/^interrupted/);
    expect(rows[1]).toMatchObject({ recipient: second, status: 'sent', attempts: 1 });
    await smtp.waitForMessages(second, 1);
    // Every row is final (sent or failed): neither the sweep nor a redelivered job sends again.
    expect(smtp.to(account.email)).toHaveLength(1);
    expect(smtp.to(second)).toHaveLength(1);
  });
});
