import { autoReloadJobId, JobName, QUEUE_SETTINGS, QueueName } from '@app/queue';
import type { Queue } from 'bullmq';
import { BillingStack } from '../support/billing-stack';
import { saveCard } from '../support/cards';
import { openStackQueue, usageAndReloadsSettled } from '../support/payments-queue';
import { spendUsd } from '../support/spend';
import { StripeProxy } from '../support/stripe-proxy';
import { waitFor } from '../support/wait-for';
import { Workspace } from '../support/workspace';

/** Priced at 1,000 USD per million prompt tokens: $1 is TOKENS_PER_USD (1,000) tokens (spendUsd). */
const MODEL = 'test/auto-reload-lock-order-model';

/**
 * A new default card (account row FOR UPDATE, then the auto-reload settings row, to end the
 * failure count) while a crossing's reload opens (settings row, then a purchase row whose foreign
 * key needs the account row) or records a decline (settings row, then an alert row, the same).
 * Taken in opposite orders, the two deadlocked (40P01): the card change answered 500 or the reload
 * job failed an attempt. Invoice billing terms take the same two rows in the card change's order
 * (account FOR UPDATE, then auto-reload turned off) and met reloads the same way. The tests make
 * them meet: they hold the settings row until both wait, the reload first, as a reload already
 * under way would. The worker reaches Stripe through a proxy that can hold a charge's answer, to
 * pause the reload between opening and recording it.
 *
 * Saving auto-reload turned on read the billing mode before its transaction, so terms set in
 * between left an invoice-billed account with auto-reload on; a crossing then charged its card.
 */
describe('auto-reload and a card change or invoice billing terms at once', () => {
  const proxy = new StripeProxy(() => stack.stripeServer!.port);
  let stack: BillingStack;
  let payments: Queue;

  async function spend(ws: Workspace, usd: number): Promise<void> {
    await spendUsd(stack, ws.accountId, MODEL, usd);
  }

  const settled = () => usageAndReloadsSettled(stack, payments);

  /** Sessions of this suite's database waiting for a lock. */
  async function lockWaiters(): Promise<number> {
    const [{ n }] = await stack.stores.sql<{ n: number }[]>`
      select count(*)::int as n from pg_stat_activity
      where datname = current_database() and wait_event_type = 'Lock'`;
    return n;
  }

  async function untilWaiting(n: number, what: string): Promise<void> {
    await waitFor(lockWaiters, (waiting) => waiting >= n, { what });
  }

  /** Holds the account's settings row (FOR SHARE) until the returned function is called. */
  async function holdSettingsRow(accountId: string): Promise<() => Promise<void>> {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let held!: () => void;
    const holding = new Promise<void>((resolve) => (held = resolve));
    const done = stack.stores.sql.begin(async (tx) => {
      await tx`select 1 from auto_reload_settings where account_id = ${accountId} for share`;
      held();
      await released;
    });
    await holding;
    return async () => {
      release();
      await done;
    };
  }

  async function consecutiveFailures(ws: Workspace): Promise<number> {
    const response = await stack.admin.get(`${ws.path}/auto-reload`);
    expect(response.status).toBe(200);
    return response.body.consecutive_failures;
  }

  /** $10 granted, a declining card and auto-reload at $5 -> +$20, declined once; back at $14. */
  async function onceDeclinedWorkspace(): Promise<Workspace> {
    const ws = await Workspace.create(stack);
    await stack.grant(ws.accountId, '10.00');
    await saveCard(stack, ws, 'pm_card_chargeDeclinedInsufficientFunds');
    const settings = { enabled: true, threshold: '5.00', amount: '20.00' };
    expect((await stack.admin.put(`${ws.path}/auto-reload`, settings)).status).toBe(200);
    await spend(ws, 6); // $4: crossing 1, declined
    await settled();
    // A failure to end: the card change has to update the settings row.
    expect(await consecutiveFailures(ws)).toBe(1);
    await stack.grant(ws.accountId, '10.00'); // $14, above the threshold again
    return ws;
  }

  /** The crossing's job ran once and completed: no attempt failed (e.g. on a deadlock). */
  async function expectCompletedFirstTime(ws: Workspace, crossing: number): Promise<void> {
    const job = await payments.getJob(`auto-reload:${ws.accountId}:${crossing}`);
    expect({ state: await job?.getState(), attempts: job?.attemptsMade, errors: job?.stacktrace }).toEqual({
      state: 'completed',
      attempts: 1,
      errors: [],
    });
  }

  /**
   * With crossing 2's job waiting for the held settings row: a new default card waits too, the
   * row is let go, and neither the card change nor the job fails.
   */
  async function changeCardThenRelease(ws: Workspace, cardId: string, release: () => Promise<void>) {
    const made = stack.admin.post(`${ws.path}/payment-methods/${cardId}/default`);
    await untilWaiting(2, 'the card change to wait too');
    await release();

    expect((await made).status).toBe(200);
    await settled();
    await expectCompletedFirstTime(ws, 2);
  }

  /** A crossing after spending `usd`, its reload opening and waiting for the held settings row. */
  async function openReloadAgainstHeldSettings(ws: Workspace, usd: number): Promise<() => Promise<void>> {
    const release = await holdSettingsRow(ws.accountId);
    await spend(ws, usd);
    await untilWaiting(1, 'the reload to wait for the settings row');
    return release;
  }

  /** A crossing after spending `usd`, its charge declined and the decline waiting for the held settings row. */
  async function declineAgainstHeldSettings(ws: Workspace, usd: number): Promise<() => Promise<void>> {
    proxy.mode = 'hold-create-answer';
    await spend(ws, usd); // opened and declined; the worker has not heard yet
    await waitFor(
      () => proxy.heldCreates,
      (n) => n === 1,
      { what: "the reload's charge" },
    );
    const release = await holdSettingsRow(ws.accountId);
    proxy.mode = 'pass';
    proxy.releaseHeld();
    await untilWaiting(1, 'the decline to wait for the settings row');
    return release;
  }

  /** An enterprise account, still prepaid: $10 granted, `card` and auto-reload at $5 -> +$20. */
  async function enterpriseReloadingWorkspace(card: string): Promise<Workspace> {
    const ws = await Workspace.create(stack, 'enterprise');
    await stack.grant(ws.accountId, '10.00');
    await saveCard(stack, ws, card);
    const settings = { enabled: true, threshold: '5.00', amount: '20.00' };
    expect((await stack.admin.put(`${ws.path}/auto-reload`, settings)).status).toBe(200);
    return ws;
  }

  /**
   * With crossing 1's reload waiting for the held settings row: invoice billing terms wait too,
   * the row is let go, the terms are set (auto-reload off) and the job does not fail.
   */
  async function setInvoiceTermsThenRelease(ws: Workspace, release: () => Promise<void>) {
    const made = stack.admin.put(`/v1/admin/accounts/${ws.accountId}/invoice-billing`, {
      payment_terms_days: 30,
      credit_limit: '1000.00',
      discount_tiers: [{ from: '10000.00', discount_percent: '5' }],
    });
    await untilWaiting(2, 'the invoice billing terms to wait too');
    await release();

    const response = await made;
    expect({ status: response.status, mode: response.body.billing_mode }).toEqual({
      status: 200,
      mode: 'invoice',
    });
    await settled();
    await expectCompletedFirstTime(ws, 1);
    expect((await stack.admin.get(`${ws.path}/auto-reload`)).body.enabled).toBe(false);
  }

  /**
   * Holds the account row FOR UPDATE, as invoice billing terms do, until the returned function
   * writes what the terms write under it (invoice billing on, auto-reload off) and commits.
   */
  async function holdAccountRowForTerms(accountId: string): Promise<() => Promise<void>> {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let held!: () => void;
    const holding = new Promise<void>((resolve) => (held = resolve));
    const done = stack.stores.sql.begin(async (tx) => {
      await tx`select 1 from accounts where id = ${accountId} for update`;
      held();
      await released;
      await tx`
        update accounts set billing_mode = 'invoice', payment_terms_days = 30, credit_limit_micros = 1000000000,
               invoice_billing_since = now(), updated_at = now()
        where id = ${accountId}`;
      await tx`
        update auto_reload_settings set enabled = false, updated_at = now()
        where account_id = ${accountId} and enabled`;
    });
    await holding;
    return async () => {
      release();
      await done;
    };
  }

  /** The account's auto-reload purchases, each with the outcome recorded for it (its audit row). */
  async function reloadOutcomesOf(ws: Workspace) {
    return stack.stores.sql<{ status: string; outcome: string | null }[]>`
      select p.status, a.action as outcome from credit_purchases p
      left join audit_log a on a.account_id = p.account_id and a.target_type = 'purchase'
        and a.target_id = p.id::text and a.action like 'auto_reload.%'
      where p.account_id = ${ws.accountId} and p.kind = 'auto_reload'
      order by p.created_at`;
  }

  beforeAll(async () => {
    await proxy.start();
    stack = new BillingStack({ workers: 1, stripe: true, workerEnv: { STRIPE_API_URL: proxy.url } });
    await stack.start();
    payments = openStackQueue(stack, QueueName.Payments);
    await stack.setPrice(MODEL, '1000', '1000');
  });

  afterAll(async () => {
    await payments?.close();
    await stack?.stop();
    await proxy.stop();
  });

  beforeEach(() => {
    proxy.mode = 'pass';
  });

  it('opens a reload and makes a new default card, neither failing on a deadlock', async () => {
    const ws = await onceDeclinedWorkspace();
    const visa = await saveCard(stack, ws, 'pm_card_visa');

    const release = await openReloadAgainstHeldSettings(ws, 10); // $4: crossing 2
    await changeCardThenRelease(ws, visa.id, release);
  });

  it('records a declined reload and makes a new default card, neither failing on a deadlock', async () => {
    const ws = await onceDeclinedWorkspace();
    const visa = await saveCard(stack, ws, 'pm_card_visa');

    const release = await declineAgainstHeldSettings(ws, 10); // $4: crossing 2
    await changeCardThenRelease(ws, visa.id, release);
  });

  it('opens a reload and sets invoice billing terms; the reload, first, is charged and neither fails', async () => {
    const ws = await enterpriseReloadingWorkspace('pm_card_visa');

    const release = await openReloadAgainstHeldSettings(ws, 6); // $4: crossing 1
    await setInvoiceTermsThenRelease(ws, release);

    // The reload locked the account row before the terms could: it opened while auto-reload was
    // still on, so the card is charged; the terms turned auto-reload off after it.
    expect(await reloadOutcomesOf(ws)).toEqual([{ status: 'succeeded', outcome: 'auto_reload.succeeded' }]);
  });

  it('records a declined reload and sets invoice billing terms, neither failing on a deadlock', async () => {
    const ws = await enterpriseReloadingWorkspace('pm_card_chargeDeclinedInsufficientFunds');

    const release = await declineAgainstHeldSettings(ws, 6); // $4: crossing 1
    await setInvoiceTermsThenRelease(ws, release);

    expect(await reloadOutcomesOf(ws)).toEqual([{ status: 'failed', outcome: 'auto_reload.declined' }]);
    expect(await consecutiveFailures(ws)).toBe(1);
  });

  it('saves auto-reload turned on while invoice billing terms are set; the terms, first, refuse the save', async () => {
    const ws = await Workspace.create(stack, 'enterprise');
    await saveCard(stack, ws, 'pm_card_visa');

    const switchToInvoice = await holdAccountRowForTerms(ws.accountId);
    const saved = stack.admin.put(`${ws.path}/auto-reload`, {
      enabled: true,
      threshold: '5.00',
      amount: '20.00',
    });
    await untilWaiting(1, 'the save to wait for the account row');
    await switchToInvoice();

    const response = await saved;
    expect({ status: response.status, code: response.body.error?.code }).toEqual({
      status: 409,
      code: 'invoice_billing',
    });
    expect((await stack.admin.get(`${ws.path}/auto-reload`)).body.enabled).toBe(false);
  });

  it('skips, charging no card, a crossing of an invoice-billed account whose auto-reload was left on', async () => {
    const ws = await enterpriseReloadingWorkspace('pm_card_visa');
    const terms = { payment_terms_days: 30, credit_limit: '1000.00', discount_tiers: [] };
    expect((await stack.admin.put(`/v1/admin/accounts/${ws.accountId}/invoice-billing`, terms)).status).toBe(
      200,
    );
    // What a save crossing the switch left behind before saves locked the account row, with the
    // $10 balance below the threshold. Usage on invoice billing finds no crossing, but a job
    // queued from a catalog cache a moment old still runs.
    await stack.stores.sql`
      update auto_reload_settings set enabled = true, threshold_micros = 50000000 where account_id = ${ws.accountId}`;

    await payments.add(
      JobName.AutoReload,
      { accountId: ws.accountId, crossing: 1 },
      { ...QUEUE_SETTINGS[QueueName.Payments].jobOptions, jobId: autoReloadJobId(ws.accountId, 1) },
    );
    await settled();

    expect(
      await stack.stores.sql`
        select status, failure_code from credit_purchases where account_id = ${ws.accountId} and kind = 'auto_reload'`,
    ).toEqual([{ status: 'canceled', failure_code: 'invoice_billing' }]);
  });
});
