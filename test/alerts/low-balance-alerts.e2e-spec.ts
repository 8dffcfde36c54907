import { randomUUID } from 'node:crypto';
import { BillingStack } from '../support/billing-stack';
import { waitFor } from '../support/wait-for';
import { Workspace } from '../support/workspace';

/** 1,000 USD per million prompt tokens: 1,000 prompt tokens cost $1. */
const MODEL = 'test/low-balance-model';
/** 90 USD per million prompt tokens: one prompt token costs 90 micros. */
const CHEAP_MODEL = 'test/low-balance-cheap-model';

/**
 * Low-balance alerts (issue 6, judged b): a crossing below the line alerts once; the alert re-arms
 * only after the balance recovered above the line by max(10 %, $1), so a balance hovering at the
 * line alerts once, and a real recovery followed by a second crossing alerts twice.
 */
describe('low-balance alerts', () => {
  const stack = new BillingStack({ smtp: true });

  beforeAll(async () => {
    await stack.start();
    await stack.setPrice(MODEL, '1000', '0');
    await stack.setPrice(CHEAP_MODEL, '90', '0');
  }, 120_000);

  afterAll(() => stack.stop());

  /** Spends `usd` (whole cents) in one request and waits until it is charged. */
  async function spend(accountId: string, usd: number): Promise<void> {
    const response = await stack.gateway.post('/v1/usage/events', {
      events: [
        {
          id: randomUUID(),
          account_id: accountId,
          model: MODEL,
          prompt_tokens: Math.round(usd * 1000),
          completion_tokens: 0,
        },
      ],
    });
    expect(response.status).toBe(202);
    await stack.drained();
  }

  const alertsOf = (accountId: string) =>
    stack.stores.sql<{ kind: string; dedupe_key: string; details: any }[]>`
      select kind::text, dedupe_key, details from alerts where account_id = ${accountId} order by raised_at`;

  async function account(grant: string, line: string): Promise<Workspace> {
    const ws = await Workspace.create(stack);
    await stack.grant(ws.accountId, grant);
    const put = await stack.admin.put(`${ws.path}/alert-settings`, {
      low_balance: line,
      non_essential_enabled: true,
    });
    expect(put.status).toBe(200);
    expect(put.body.low_balance).toBe(`${line}0000`);
    return ws;
  }

  it('alerts on a crossing, and again after a recovery above the line and a second crossing', async () => {
    const ws = await account('20.00', '10.00');
    await spend(ws.accountId, 11); // 20 -> 9
    await stack.grant(ws.accountId, '5.00'); // 14: above 10 + $1
    await spend(ws.accountId, 2); // 12: re-armed, above the line
    await spend(ws.accountId, 3); // 9: second crossing

    const alerts = await waitFor(
      () => alertsOf(ws.accountId),
      (rows) => rows.length >= 2,
      { what: 'two alerts' },
    );
    expect(alerts.map((a) => a.kind)).toEqual(['low_balance', 'low_balance']);
    expect(alerts.map((a) => a.details.balance)).toEqual(['9.000000', '9.000000']);
    for (const alert of alerts) {
      expect(alert.dedupe_key).toMatch(new RegExp(`^low_balance:${ws.accountId}:`));
      expect(alert.details).toMatchObject({ threshold: '10.000000', rearm_at: '11.000000' });
      expect(alert.details.projection.balance).toBe('9.000000');
    }
    expect(alerts[0].details.projection.month_to_date_spend).toBe('11.000000');
    expect(alerts[1].details.projection.month_to_date_spend).toBe('16.000000');
    await waitFor(
      async () => stack.smtp!.messages.filter((m) => m.recipient === 'owner@example.test').length,
      (n) => n >= 2,
      {
        what: 'two emails',
        timeoutMs: 60_000,
      },
    );
    expect(await alertsOf(ws.accountId)).toHaveLength(2);
  }, 90_000);

  it('alerts once for a balance hovering at the line within the margin', async () => {
    const ws = await account('10.50', '10.00');
    await spend(ws.accountId, 1); // 9.50: alert
    await stack.grant(ws.accountId, '0.80'); // 10.30: above the line, below 11
    await spend(ws.accountId, 0.6); // 9.70
    await stack.grant(ws.accountId, '0.70'); // 10.40
    await spend(ws.accountId, 0.5); // 9.90
    await stack.grant(ws.accountId, '0.55'); // 10.45
    await spend(ws.accountId, 0.55); // 9.90

    const alerts = await waitFor(
      () => alertsOf(ws.accountId),
      (rows) => rows.length >= 1,
      { what: 'the alert' },
    );
    expect(alerts).toHaveLength(1);
    expect(alerts[0].details.balance).toBe('9.500000');
    const balance = await stack.gateway.get(`${ws.path}/balance`);
    expect(balance.body.balance).toBe('9.900000');
    expect(await alertsOf(ws.accountId)).toHaveLength(1);
  }, 90_000);

  it('persists a cheap batch crossing the line of a large balance, whose run-out is centuries away', async () => {
    // $10,000 less 90 micros at 90 micros a day (or a week) runs out in about 300,000 (2 million)
    // years: beyond Date's range. The projection must not fail the batch's transaction.
    const ws = await account('10000.00', '10000.00');
    const response = await stack.gateway.post('/v1/usage/events', {
      events: [
        {
          id: randomUUID(),
          account_id: ws.accountId,
          model: CHEAP_MODEL,
          prompt_tokens: 1,
          completion_tokens: 0,
        },
      ],
    });
    expect(response.status).toBe(202);
    await stack.drained();

    const [{ events }] = await stack.stores.sql<{ events: number }[]>`
      select count(*)::int as events from usage_events where account_id = ${ws.accountId}`;
    expect(events).toBe(1);
    const postgres = (await stack.stores.postgresBalances()).get(ws.accountId);
    expect({ postgres, redis: await stack.stores.redisBalance(ws.accountId) }).toEqual({
      postgres: 9_999_999_910n,
      redis: 9_999_999_910n,
    });
    const alerts = await waitFor(
      () => alertsOf(ws.accountId),
      (rows) => rows.length >= 1,
      { what: 'the alert' },
    );
    expect(alerts.map((a) => a.kind)).toEqual(['low_balance']);
    expect(alerts[0].details.balance).toBe('9999.999910');
    expect(alerts[0].details.projection).toMatchObject({
      burn_rate_24h: '0.000090',
      runs_out_at: null,
      runs_out_at_24h: null,
    });

    const spend = await stack.admin.get(`${ws.path}/spend`);
    expect(spend.status).toBe(200);
    expect(spend.body).toMatchObject({
      balance: '9999.999910',
      spend: '0.000090',
      runs_out_at: null,
      runs_out_at_24h: null,
    });
  }, 90_000);

  it('reads and validates the settings', async () => {
    const ws = await Workspace.create(stack);
    expect((await stack.admin.get(`${ws.path}/alert-settings`)).body).toMatchObject({
      low_balance: null,
      non_essential_enabled: true,
      recipients: [],
    });
    const bad = await stack.admin.put(`${ws.path}/alert-settings`, {
      low_balance: 'ten',
      non_essential_enabled: true,
    });
    expect({ status: bad.status, code: bad.body?.error?.code }).toEqual({
      status: 422,
      code: 'validation_failed',
    });
    const saved = await stack.admin.put(`${ws.path}/alert-settings`, {
      low_balance: null,
      non_essential_enabled: false,
      recipients: ['Ops@Acme.test'],
    });
    expect(saved.body).toMatchObject({
      low_balance: null,
      non_essential_enabled: false,
      recipients: ['ops@acme.test'],
    });
    const audit = await stack.stores.sql`
      select 1 from audit_log where account_id = ${ws.accountId} and action = 'alert_settings.changed'`;
    expect(audit).toHaveLength(1);
  });
});
