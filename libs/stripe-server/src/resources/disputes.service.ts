import type Stripe from 'stripe';
import { ApiContext } from '../core/api-context';
import { invalidRequest } from '../core/api-error';
import { newId, unixNow } from '../core/ids';

const EVIDENCE_DAYS = 7;

/** Stripe's dispute evidence hash, all empty: nobody has responded yet. */
function emptyEvidence(): Stripe.Dispute.Evidence {
  const fields = [
    'access_activity_log',
    'billing_address',
    'cancellation_policy',
    'cancellation_policy_disclosure',
    'cancellation_rebuttal',
    'customer_communication',
    'customer_email_address',
    'customer_name',
    'customer_purchase_ip',
    'customer_signature',
    'duplicate_charge_documentation',
    'duplicate_charge_explanation',
    'duplicate_charge_id',
    'product_description',
    'receipt',
    'refund_policy',
    'refund_policy_disclosure',
    'refund_refusal_explanation',
    'service_date',
    'service_documentation',
    'shipping_address',
    'shipping_carrier',
    'shipping_date',
    'shipping_documentation',
    'shipping_tracking_number',
    'uncategorized_file',
    'uncategorized_text',
  ];
  return Object.fromEntries(fields.map((field) => [field, null])) as unknown as Stripe.Dispute.Evidence;
}

/** Opens a dispute on a succeeded charge (test helper, or the `createDispute` test card). */
export function createDispute(
  ctx: ApiContext,
  charge: Stripe.Charge,
  options: { amount?: number; reason?: string } = {},
): Stripe.Dispute {
  if (charge.status !== 'succeeded')
    throw invalidRequest(`Charge ${charge.id} did not succeed; it cannot be disputed.`);
  if (charge.disputed)
    throw invalidRequest(`Charge ${charge.id} is already disputed.`, { code: 'charge_disputed' });
  const amount = options.amount ?? charge.amount - charge.amount_refunded;
  if (amount < 1 || amount > charge.amount) {
    throw invalidRequest(`The dispute amount must be between 1 and ${charge.amount}.`, { param: 'amount' });
  }
  const created = unixNow();
  const dispute: Stripe.Dispute = {
    id: newId('dp'),
    object: 'dispute',
    amount,
    balance_transactions: [],
    charge: charge.id,
    created,
    currency: charge.currency,
    enhanced_eligibility_types: [],
    evidence: emptyEvidence(),
    evidence_details: {
      due_by: created + EVIDENCE_DAYS * 86400,
      enhanced_eligibility: {},
      has_evidence: false,
      past_due: false,
      submission_count: 0,
      submission_method: null,
    } as unknown as Stripe.Dispute.EvidenceDetails,
    intended_submission_method: null,
    is_charge_refundable: false,
    livemode: false,
    metadata: {},
    payment_intent: charge.payment_intent,
    reason: options.reason ?? 'fraudulent',
    status: 'needs_response',
  };
  ctx.state.disputes.set(dispute.id, dispute);
  charge.disputed = true;
  ctx.emit('charge.dispute.created', dispute);
  return dispute;
}

/** Ends a dispute as the card network would: `won` or `lost`. */
export function closeDispute(
  ctx: ApiContext,
  dispute: Stripe.Dispute,
  outcome: 'won' | 'lost',
): Stripe.Dispute {
  if (dispute.status === 'won' || dispute.status === 'lost') {
    throw invalidRequest(`Dispute ${dispute.id} is already closed (${dispute.status}).`);
  }
  const previousStatus = dispute.status;
  dispute.status = outcome;
  ctx.emit('charge.dispute.closed', dispute, { status: previousStatus });
  return dispute;
}
