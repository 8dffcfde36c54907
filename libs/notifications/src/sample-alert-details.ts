import type { AlertDetailsByKind, AutoReloadDisputePausedDetails } from '@app/alerts';
import { AlertKind } from './alert-kinds';

/**
 * Sample `details` of each alert kind, in the shape libs/alerts raises them (alert-details.ts):
 * the numbers the email states and the projection. Used by the template tests, the email e2e
 * suites and the screenshot in docs/.
 */
const projection = {
  balance: '84.120000',
  burn_rate_24h: '21.480000',
  burn_rate_7d: '17.905000',
  runs_out_at: '2026-12-01T16:45:00.000Z',
  runs_out_at_24h: '2026-11-30T23:05:00.000Z',
  month_to_date_spend: '387.600000',
  projected_month_end_spend: '459.210000',
  budget: '500.000000',
  as_of: '2026-11-27T09:12:00.000Z',
};

const SAMPLE = {
  budget_threshold: {
    budget_id: '6f1c2a8e-3b7d-4c59-9e0a-1d2f3a4b5c6d',
    scope: 'account' as const,
    scope_id: null,
    scope_name: null,
    period: '2026-11',
    threshold_percent: 75,
    budget: '500.000000',
    spend: '387.600000',
    percent_used: '77.52',
    projection,
  },
  low_balance: {
    balance: '8.420000',
    threshold: '10.000000',
    rearm_at: '11.000000',
    projection: {
      ...projection,
      balance: '8.420000',
      runs_out_at: '2026-11-27T20:30:00.000Z',
      runs_out_at_24h: '2026-11-27T18:36:00.000Z',
    },
  },
  auto_reload_succeeded: {
    amount: '50.000000',
    balance: '54.870000',
    threshold: '5.000000',
    purchase_id: 'c0a8012e-7f3d-4d1b-9a57-2b0c9e3d4f61',
    card: { brand: 'visa', last4: '4242' },
    crossing: 12,
    projection: {
      ...projection,
      balance: '54.870000',
      runs_out_at: '2026-11-30T06:40:00.000Z',
      runs_out_at_24h: '2026-11-29T14:20:00.000Z',
    },
  },
  auto_reload_declined: {
    amount: '50.000000',
    balance: '3.910000',
    threshold: '5.000000',
    purchase_id: 'c0a8012e-7f3d-4d1b-9a57-2b0c9e3d4f61',
    card: { brand: 'mastercard', last4: '4444' },
    decline_code: 'insufficient_funds',
    failure_message: 'Your card has insufficient funds.',
    consecutive_failures: 1,
    crossing: 13,
    projection: {
      ...projection,
      balance: '3.910000',
      runs_out_at: '2026-11-27T14:25:00.000Z',
      runs_out_at_24h: '2026-11-27T13:34:00.000Z',
    },
  },
  auto_reload_action_required: {
    amount: '50.000000',
    balance: '4.200000',
    threshold: '5.000000',
    purchase_id: 'c0a8012e-7f3d-4d1b-9a57-2b0c9e3d4f61',
    card: { brand: 'visa', last4: '3184' },
    crossing: 14,
    projection: {
      ...projection,
      balance: '4.200000',
      runs_out_at: '2026-11-27T14:46:00.000Z',
      runs_out_at_24h: '2026-11-27T13:50:00.000Z',
    },
  },
  auto_reload_paused: {
    amount: '50.000000',
    balance: '2.050000',
    threshold: '5.000000',
    purchase_id: 'c0a8012e-7f3d-4d1b-9a57-2b0c9e3d4f61',
    card: { brand: 'visa', last4: '0341' },
    reason: 'failures' as const,
    consecutive_failures: 3,
    decline_code: 'card_declined',
    failure_message: 'Your card was declined.',
    crossing: 15,
    projection: {
      ...projection,
      balance: '2.050000',
      runs_out_at: '2026-11-27T11:57:00.000Z',
      runs_out_at_24h: '2026-11-27T11:29:00.000Z',
    },
  },
  invoice_ready: {
    invoice_id: '9b2e4f10-5c6d-4e7f-8a9b-0c1d2e3f4a5b',
    invoice_number: 'INV-2026-000142',
    total: '1250.000000',
    tax: '0.000000',
    currency: 'USD',
    issued_at: '2026-11-01T00:00:00.000Z',
    due_at: '2026-12-01T00:00:00.000Z',
    period_start: '2026-10-01T00:00:00.000Z',
    period_end: '2026-11-01T00:00:00.000Z',
    purchase_order: 'PO-88412',
    url: 'https://billing.example.com/invoices/9b2e4f10-5c6d-4e7f-8a9b-0c1d2e3f4a5b.pdf',
  },
  invoice_due: {
    invoice_id: '9b2e4f10-5c6d-4e7f-8a9b-0c1d2e3f4a5b',
    invoice_number: 'INV-2026-000142',
    total: '1250.000000',
    amount_due: '1250.000000',
    currency: 'USD',
    issued_at: '2026-11-01T00:00:00.000Z',
    due_at: '2026-12-01T00:00:00.000Z',
    days_until_due: 3,
    purchase_order: 'PO-88412',
    url: null,
  },
  invoice_overdue: {
    invoice_id: '9b2e4f10-5c6d-4e7f-8a9b-0c1d2e3f4a5b',
    invoice_number: 'INV-2026-000142',
    total: '1250.000000',
    amount_due: '1250.000000',
    currency: 'USD',
    issued_at: '2026-11-01T00:00:00.000Z',
    due_at: '2026-12-01T00:00:00.000Z',
    days_overdue: 7,
    purchase_order: 'PO-88412',
    url: null,
  },
} satisfies AlertDetailsByKind;

export const SAMPLE_ALERT_DETAILS: Record<AlertKind, Record<string, unknown>> = SAMPLE;

/**
 * Kinds also raised with details their templates word differently, by a name of their own (the
 * preview's file name): an `auto_reload_paused` raised by a disputed charge says why and how to resume.
 */
export const SAMPLE_ALERT_VARIANTS: Record<string, { kind: AlertKind; details: Record<string, unknown> }> = {
  auto_reload_paused_dispute: {
    kind: 'auto_reload_paused',
    details: {
      reason: 'dispute',
      dispute_id: 'dp_1QxY2zA3bC4dE5fG6hI7jK8l',
      purchase_id: 'c0a8012e-7f3d-4d1b-9a57-2b0c9e3d4f61',
      disputed_amount: '50.000000',
      card: { brand: 'visa', last4: '0341' },
      amount: '50.000000',
      balance: '12.640000',
      threshold: '5.000000',
      projection: {
        ...projection,
        balance: '12.640000',
        runs_out_at: '2026-11-27T23:35:00.000Z',
        runs_out_at_24h: '2026-11-27T21:18:00.000Z',
      },
    } satisfies AutoReloadDisputePausedDetails,
  },
};
