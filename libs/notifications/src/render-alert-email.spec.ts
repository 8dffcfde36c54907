import { ALERT_KINDS } from './alert-kinds';
import { alertEmailView, formatMoney } from './alert-email-view';
import { AlertEmailRenderer } from './render-alert-email';
import { SAMPLE_ALERT_DETAILS, SAMPLE_ALERT_VARIANTS } from './sample-alert-details';

const ACCOUNT = { account_id: '0b7e1a52-2f0c-4c1e-9d55-6a1f3b9c2d10', account_name: 'Acme AI' };
const RAISED_AT = new Date('2026-11-27T09:12:00.000Z');

describe('AlertEmailRenderer', () => {
  const sut = new AlertEmailRenderer();

  it.each(ALERT_KINDS)('renders %s with a subject, an HTML and a text part and no empty fields', (kind) => {
    const email = sut.render({ kind, details: SAMPLE_ALERT_DETAILS[kind], raised_at: RAISED_AT, ...ACCOUNT });
    expect(email.subject).toContain('Acme AI');
    expect(email.subject).not.toMatch(/\n|undefined|null|\$ |\(\)/);
    for (const part of [email.html, email.text]) {
      expect(part).not.toMatch(/undefined|null|NaN|\[object/);
      expect(part).toContain(ACCOUNT.account_id);
    }
    expect(email.html).toMatch(/^<!DOCTYPE html>/);
  });

  it.each([
    ['invoice_due', { days_until_due: 1 }, 'is due in 1 day', 'in 1 days'],
    ['invoice_due', { days_until_due: 3 }, 'is due in 3 days', 'in 3 day '],
    ['invoice_overdue', { days_overdue: 1 }, '1 day ago', '1 days'],
    ['invoice_overdue', { days_overdue: 12 }, '12 days ago', '12 day '],
  ] as const)('counts days in %s as words: %j reads "%s"', (kind, days, reads, never) => {
    const email = sut.render({
      kind,
      details: { ...SAMPLE_ALERT_DETAILS[kind], ...days },
      raised_at: RAISED_AT,
      ...ACCOUNT,
    });
    for (const part of [email.html, email.text]) {
      expect(part).toContain(reads);
      expect(part).not.toContain(never);
    }
  });

  it('states the budget figures and the projection of a budget alert', () => {
    const email = sut.render({
      kind: 'budget_threshold',
      details: SAMPLE_ALERT_DETAILS.budget_threshold,
      raised_at: RAISED_AT,
      ...ACCOUNT,
    });
    expect(email.subject).toBe('Acme AI: 77.52% of the November 2026 budget used ($387.60 of $500.00)');
    for (const part of [email.html, email.text]) {
      expect(part).toContain('$387.60');
      expect(part).toContain('$500.00');
      expect(part).toContain('$21.48 / day'); // 24 h burn rate
      expect(part).toContain('$17.91 / day'); // 7-day burn rate 17.905 rounded half up
      expect(part).toContain('Dec 1, 2026, 16:45 UTC'); // runs out at the 7-day rate
      expect(part).toContain('$459.21'); // projected month-end spend
      expect(part).toContain('92% of the $500.00 budget');
    }
  });

  it('shows the percent used as raised, without rounding it again', () => {
    const email = sut.render({
      kind: 'budget_threshold',
      details: { ...SAMPLE_ALERT_DETAILS.budget_threshold, spend: '499.800000', percent_used: '99.96' },
      raised_at: RAISED_AT,
      ...ACCOUNT,
    });
    expect(email.subject).toBe('Acme AI: 99.96% of the November 2026 budget used ($499.80 of $500.00)');
    for (const part of [email.html, email.text]) {
      expect(part).toContain('99.96%');
      expect(part).not.toContain('100.0%');
      expect(part).toContain('75%'); // the threshold crossed, a whole percent
    }
  });

  it.each(Object.entries(SAMPLE_ALERT_VARIANTS))(
    'renders the %s variant with no empty fields',
    (_name, { kind, details }) => {
      const email = sut.render({ kind, details, raised_at: RAISED_AT, ...ACCOUNT });
      expect(email.subject).not.toMatch(/\n|undefined|null|\$ |\(\)/);
      for (const part of [email.html, email.text]) expect(part).not.toMatch(/undefined|null|NaN|\[object/);
    },
  );

  it('says a dispute paused auto-reload, that no card is charged, how to resume, and the balance', () => {
    const { kind, details } = SAMPLE_ALERT_VARIANTS.auto_reload_paused_dispute;
    const email = sut.render({ kind, details, raised_at: RAISED_AT, ...ACCOUNT });
    expect(email.subject).toBe('Action needed: auto-reload is paused for Acme AI after a disputed payment');
    const text = email.text.replace(/\s+/g, ' ');
    expect(text).toContain(
      'A payment of $50.00 with your Visa ending in 0341 was disputed with the card issuer, so we paused auto-reload.',
    );
    expect(text).toContain('no card will be charged automatically');
    expect(text).toContain(
      `save the auto-reload settings with enabled: true (PUT /v1/accounts/${ACCOUNT.account_id}/auto-reload)`,
    );
    expect(text).toContain('Balance now: $12.64');
    expect(email.html).toContain('was disputed with the card issuer');
    expect(email.html).toContain('no card will be charged automatically');
    expect(email.html).toContain('$12.64');
    for (const part of [email.html, email.text]) expect(part).not.toContain('charges in a row failed');
  });

  it('keeps the failed-charges wording for a pause without a dispute', () => {
    const email = sut.render({
      kind: 'auto_reload_paused',
      details: SAMPLE_ALERT_DETAILS.auto_reload_paused,
      raised_at: RAISED_AT,
      ...ACCOUNT,
    });
    expect(email.subject).toBe('Action needed: auto-reload is paused for Acme AI');
    for (const part of [email.html, email.text]) {
      expect(part).toContain('3 auto-reload charges in a row failed');
      expect(part).not.toContain('disputed');
    }
  });

  it('escapes the account name in HTML and keeps it verbatim in the text part', () => {
    const email = sut.render({
      kind: 'low_balance',
      details: SAMPLE_ALERT_DETAILS.low_balance,
      raised_at: RAISED_AT,
      account_id: ACCOUNT.account_id,
      account_name: 'Bob & <Co>\r\nBcc: x@evil.test',
    });
    expect(email.html).toContain('Bob &amp; &lt;Co&gt;');
    expect(email.html).not.toContain('<Co>');
    expect(email.text).toContain('Bob & <Co>');
    expect(email.subject).not.toMatch(/[\r\n]/);
  });
});

describe('alert email figures', () => {
  it('rounds money half up to the cent and shows sub-cent amounts exactly', () => {
    expect(formatMoney(387_600_000n)).toBe('$387.60');
    expect(formatMoney(17_905_000n)).toBe('$17.91');
    expect(formatMoney(17_904_999n)).toBe('$17.90');
    expect(formatMoney(1_234_567_890_000n)).toBe('$1,234,567.89');
    expect(formatMoney(420n)).toBe('$0.00042');
    expect(formatMoney(0n)).toBe('$0.00');
    expect(formatMoney(-3_205_000n)).toBe('-$3.21');
  });

  it('says how far over the budget the month-end projection lands', () => {
    const view = alertEmailView(
      'budget_threshold',
      {
        ...SAMPLE_ALERT_DETAILS.budget_threshold,
        projection: {
          ...(SAMPLE_ALERT_DETAILS.budget_threshold.projection as object),
          projected_month_end_spend: '540.004999',
        },
      },
      RAISED_AT,
    );
    expect(view.projection?.monthEndVsBudget).toBe('$40.00 over the $500.00 budget');
    expect(view.projection?.overBudget).toBe(true);
  });

  it('says the balance does not run out when nothing was spent', () => {
    const view = alertEmailView(
      'low_balance',
      {
        ...SAMPLE_ALERT_DETAILS.low_balance,
        projection: {
          ...(SAMPLE_ALERT_DETAILS.low_balance.projection as object),
          burn_rate_24h: '0.000000',
          burn_rate_7d: '0.000000',
          runs_out_at: null,
          runs_out_at_24h: null,
        },
      },
      RAISED_AT,
    );
    expect(view.projection?.runsOut).toBe('Not at this rate (no spend in the last 7 days)');
    expect(view.projection?.runsOut24h).toBe('Not at this rate (no spend in the last 24 hours)');
  });

  it('says the balance does not run out within 100 years when usage is tiny next to it', () => {
    const view = alertEmailView(
      'low_balance',
      {
        ...SAMPLE_ALERT_DETAILS.low_balance,
        projection: {
          ...(SAMPLE_ALERT_DETAILS.low_balance.projection as object),
          balance: '10000.000000',
          burn_rate_24h: '0.000090',
          burn_rate_7d: '0.000013',
          runs_out_at: null,
          runs_out_at_24h: null,
        },
      },
      RAISED_AT,
    );
    expect(view.projection?.runsOut).toBe('Not at this rate (more than 100 years away)');
    expect(view.projection?.runsOut24h).toBe('Not at this rate (more than 100 years away)');
    expect(view.projection?.runsOutIn).toBeNull();
  });
});
