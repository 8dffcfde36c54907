import type Stripe from 'stripe';
import { cardFingerprint, TestCard, testCardForPaymentMethodId } from '../cards/test-cards';
import { ApiContext } from '../core/api-context';
import { docUrl, invalidRequest, noSuchObject, StripeApiError } from '../core/api-error';
import { newId, unixNow } from '../core/ids';
import { getOrThrow } from '../core/state';

const DISPLAY_BRAND: Record<TestCard['brand'], string> = {
  visa: 'visa',
  mastercard: 'mastercard',
  amex: 'american_express',
  discover: 'discover',
};

export function emptyBillingDetails(): Stripe.PaymentMethod.BillingDetails {
  return {
    address: { city: null, country: null, line1: null, line2: null, postal_code: null, state: null },
    email: null,
    name: null,
    phone: null,
    tax_id: null,
  };
}

/** A new, unattached card PaymentMethod that behaves like `testCard` from now on. */
export function createCardPaymentMethod(
  ctx: ApiContext,
  testCard: TestCard,
  options: { expMonth?: number; expYear?: number; billingDetails?: Stripe.PaymentMethod.BillingDetails } = {},
): Stripe.PaymentMethod {
  const paymentMethod: Stripe.PaymentMethod = {
    id: newId('pm'),
    object: 'payment_method',
    allow_redisplay: 'unspecified',
    billing_details: options.billingDetails ?? emptyBillingDetails(),
    card: {
      brand: testCard.brand,
      checks: { address_line1_check: null, address_postal_code_check: null, cvc_check: 'pass' },
      country: testCard.country,
      display_brand: DISPLAY_BRAND[testCard.brand],
      exp_month: options.expMonth ?? 12,
      exp_year: options.expYear ?? new Date().getUTCFullYear() + 3,
      fingerprint: cardFingerprint(testCard),
      funding: testCard.funding,
      generated_from: null,
      last4: testCard.number.slice(-4),
      networks: { available: [testCard.brand], preferred: null },
      regulated_status: 'unregulated',
      three_d_secure_usage: { supported: true },
      wallet: null,
    },
    created: unixNow(),
    customer: null,
    customer_account: null,
    livemode: false,
    metadata: {},
    type: 'card',
  };
  ctx.state.paymentMethods.set(paymentMethod.id, paymentMethod);
  ctx.state.cardBehaviour.set(paymentMethod.id, testCard);
  return paymentMethod;
}

/**
 * The PaymentMethod a `payment_method` parameter names. A test id such as `pm_card_visa` creates a
 * new PaymentMethod each time, as Stripe does, so callers must use the returned id afterwards.
 */
export function resolvePaymentMethod(ctx: ApiContext, id: string, param: string): Stripe.PaymentMethod {
  const testCard = testCardForPaymentMethodId(id);
  if (testCard) return createCardPaymentMethod(ctx, testCard);
  const paymentMethod = ctx.state.paymentMethods.get(id);
  if (!paymentMethod) throw noSuchObject('PaymentMethod', id, param);
  if (ctx.state.consumedPaymentMethods.has(id)) {
    throw invalidRequest(
      `This PaymentMethod was previously used without being attached to a Customer or was detached from a Customer, and may not be used again.`,
      { param, code: 'payment_method_unexpected_state' },
    );
  }
  return paymentMethod;
}

export function behaviourOf(ctx: ApiContext, paymentMethodId: string): TestCard {
  const testCard = ctx.state.cardBehaviour.get(paymentMethodId);
  if (!testCard) throw new Error(`no test card recorded for ${paymentMethodId}`);
  return testCard;
}

/** A PaymentMethod used with `customer` must belong to that customer, or to nobody yet. */
export function checkOwnership(
  paymentMethod: Stripe.PaymentMethod,
  customerId: string | null,
  param = 'payment_method',
): void {
  if (paymentMethod.customer === null || paymentMethod.customer === customerId) return;
  throw invalidRequest(
    customerId
      ? `The provided PaymentMethod ${paymentMethod.id} does not belong to the Customer ${customerId}.`
      : `The provided PaymentMethod ${paymentMethod.id} was previously attached to a Customer. To use it, also pass that Customer's id.`,
    { param },
  );
}

/** The card check Stripe runs when a card is saved: cards declined at setup fail here. */
export function cardCheckFailure(
  ctx: ApiContext,
  paymentMethod: Stripe.PaymentMethod,
): StripeApiError | null {
  const decline = behaviourOf(ctx, paymentMethod.id).decline;
  if (!decline?.atSetup) return null;
  return new StripeApiError(402, {
    type: 'card_error',
    code: decline.code,
    decline_code: decline.declineCode,
    message: decline.message,
    doc_url: docUrl(decline.code),
  });
}

export function attachPaymentMethod(
  ctx: ApiContext,
  paymentMethod: Stripe.PaymentMethod,
  customerId: string,
  customerParam = 'customer',
): void {
  getOrThrow(ctx.state.customers, 'customer', customerId, customerParam);
  if (paymentMethod.customer === customerId) return;
  if (paymentMethod.customer !== null) {
    throw invalidRequest('The payment method you provided has already been attached to a customer.', {
      param: customerParam,
    });
  }
  paymentMethod.customer = customerId;
  ctx.emit('payment_method.attached', paymentMethod, { customer: null });
}

/** Detaching also unsets it as the customer's default, and it can never be used again. */
export function detachPaymentMethod(ctx: ApiContext, paymentMethod: Stripe.PaymentMethod): void {
  const customerId = paymentMethod.customer as string | null;
  if (customerId === null) {
    throw invalidRequest(
      'The payment method you provided is not attached to a customer so detachment is impossible.',
    );
  }
  paymentMethod.customer = null;
  ctx.state.consumedPaymentMethods.add(paymentMethod.id);
  ctx.state.authenticatedForOffSession.delete(paymentMethod.id);
  ctx.emit('payment_method.detached', paymentMethod, { customer: customerId });
  const customer = ctx.state.customers.get(customerId);
  if (customer && customer.invoice_settings.default_payment_method === paymentMethod.id) {
    customer.invoice_settings.default_payment_method = null;
    ctx.emit('customer.updated', customer, {
      invoice_settings: { ...customer.invoice_settings, default_payment_method: paymentMethod.id },
    });
  }
}
