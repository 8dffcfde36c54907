import { Tx } from '@app/db';
import { PurchaseRecord } from '../purchase-records';

/**
 * Why a crossing was not charged; stored as the skipped purchase's failure_code. `card_removed`:
 * the card its purchase row names was removed before Stripe charged it (Stripe refused it as
 * detached); the crossing is reloaded again on the new default card, if any.
 */
export type AutoReloadSkipReason =
  | 'disabled'
  | 'invoice_billing'
  | 'paused'
  | 'balance_recovered'
  | 'no_default_card'
  | 'monthly_cap_reached'
  | 'card_removed';

export type AutoReloadOutcomeKind = 'succeeded' | 'declined' | 'authentication_required' | 'skipped';

/**
 * The audit action of each outcome, of a pause (by failures or a dispute) and of the owner ending
 * a dispute pause.
 */
export const AUTO_RELOAD_AUDIT = {
  succeeded: 'auto_reload.succeeded',
  declined: 'auto_reload.declined',
  authentication_required: 'auto_reload.authentication_required',
  skipped: 'auto_reload.skipped',
  paused: 'auto_reload.paused',
  resumed: 'auto_reload.resumed',
} as const;

/** What the card holder must do to finish a payment that needs authentication (3-D Secure). */
export interface AuthenticationStep {
  paymentIntentId: string;
  paymentMethodId: string | null;
  /**
   * For Stripe.js, on session: confirm the PaymentIntent with this secret. Given to observers
   * (the message to the owner) and never stored: Stripe asks that it is not logged or kept.
   */
  clientSecret: string | null;
}

/** One crossing's final outcome, recorded once (purchase row + audit row) in one transaction. */
export interface AutoReloadOutcome {
  kind: AutoReloadOutcomeKind;
  accountId: string;
  crossing: number;
  purchase: PurchaseRecord;
  skipReason: AutoReloadSkipReason | null;
  authentication: AuthenticationStep | null;
  /** This outcome was the failure that paused auto-reload. */
  paused: boolean;
}

/** A disputed charge that paused auto-reload (pauseForDispute changed the settings row). */
export interface DisputePause {
  accountId: string;
  disputeId: string;
  /** Our purchase the disputed charge paid; null when none of ours matches it. */
  purchaseId: string | null;
  /** As Stripe states it: in the smallest unit of `currency`. */
  amount: number;
  currency: string;
  /** Brand and last4 of the disputed card, never more of it. */
  card: { brand: string | null; last4: string | null };
}

/**
 * Called inside the transaction that records each outcome, so whatever an observer writes
 * commits with the outcome or not at all, exactly once per crossing. The invoices work renders
 * the invoice of a `succeeded` reload here; alerts email the owner about the others.
 * `onDisputePause` likewise runs in the dispute webhook's transaction, only when that dispute
 * paused auto-reload (once per pause, however often the webhook comes).
 */
export interface AutoReloadObserver {
  onAutoReloadOutcome(tx: Tx, outcome: AutoReloadOutcome): Promise<void>;
  onDisputePause(tx: Tx, pause: DisputePause): Promise<void>;
}

/** Multi-provider token: the observers registered in PaymentsModule (the alerts observer). */
export const AUTO_RELOAD_OBSERVERS = Symbol('AUTO_RELOAD_OBSERVERS');
