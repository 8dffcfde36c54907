import type Stripe from 'stripe';
import { testCardForNumber, testCardForToken } from '../cards/test-cards';
import { ApiContext } from '../core/api-context';
import { invalidRequest, StripeApiError } from '../core/api-error';
import { LIST_PARAMS, paginate } from '../core/list';
import {
  applyMetadata,
  checkParams,
  optionalAddress,
  optionalInteger,
  optionalObject,
  optionalString,
  requiredString,
} from '../core/params';
import { getOrThrow } from '../core/state';
import { FormObject } from '../http/form-encoding';
import { PathParams, Router } from '../http/router';
import {
  attachPaymentMethod,
  cardCheckFailure,
  createCardPaymentMethod,
  detachPaymentMethod,
  emptyBillingDetails,
  resolvePaymentMethod,
} from './payment-methods.service';

const BILLING_DETAILS = ['address', 'email', 'name', 'phone', 'tax_id'] as const;

function billingDetails(
  params: FormObject,
  current: Stripe.PaymentMethod.BillingDetails,
): Stripe.PaymentMethod.BillingDetails {
  if (optionalObject(params, 'billing_details') === undefined) return current;
  const next = { ...current };
  const address = optionalAddress(params, 'billing_details[address]');
  if (address !== undefined) next.address = address;
  for (const field of ['email', 'name', 'phone', 'tax_id'] as const) {
    const value = optionalString(params, `billing_details[${field}]`);
    if (value !== undefined) next[field] = value;
  }
  return next;
}

/**
 * POST /v1/payment_methods with `card[token]=tok_visa` or a test card number. Only Stripe's test
 * cards are known here; anything else is refused like an unknown number in test mode.
 */
function createPaymentMethod(ctx: ApiContext): Stripe.PaymentMethod {
  const { params } = ctx;
  checkParams(params, {
    type: true,
    card: ['token', 'number', 'exp_month', 'exp_year', 'cvc'],
    billing_details: BILLING_DETAILS,
    metadata: true,
    allow_redisplay: true,
  });
  const type = requiredString(params, 'type');
  if (type !== 'card') {
    throw invalidRequest(`This test server supports only card PaymentMethods, not '${type}'.`, {
      param: 'type',
    });
  }
  if (!optionalObject(params, 'card'))
    throw invalidRequest('Missing required param: card.', { param: 'card' });
  const token = optionalString(params, 'card[token]');
  const number = optionalString(params, 'card[number]');
  const testCard = token ? testCardForToken(token) : number ? testCardForNumber(number) : undefined;
  if (!testCard) {
    if (token)
      throw invalidRequest(`No such token: '${token}'`, { param: 'card[token]', code: 'resource_missing' });
    throw new StripeApiError(402, {
      type: 'card_error',
      code: 'incorrect_number',
      message: 'Your card number is incorrect. This test server knows only the Stripe test card numbers.',
      param: 'card[number]',
    });
  }
  const paymentMethod = createCardPaymentMethod(ctx, testCard, {
    expMonth: optionalInteger(params, 'card[exp_month]'),
    expYear: optionalInteger(params, 'card[exp_year]'),
    billingDetails: billingDetails(params, emptyBillingDetails()),
  });
  paymentMethod.metadata = applyMetadata({}, params);
  return paymentMethod;
}

function retrieve(ctx: ApiContext, path: PathParams): Stripe.PaymentMethod {
  checkParams(ctx.params, {});
  return resolvePaymentMethod(ctx, path.id, 'id');
}

function update(ctx: ApiContext, path: PathParams): Stripe.PaymentMethod {
  const { params } = ctx;
  checkParams(params, {
    billing_details: BILLING_DETAILS,
    metadata: true,
    card: ['exp_month', 'exp_year'],
    allow_redisplay: true,
  });
  const paymentMethod = getOrThrow(ctx.state.paymentMethods, 'PaymentMethod', path.id);
  if (paymentMethod.customer === null) {
    throw invalidRequest('You must save this PaymentMethod to a customer before you can update it.');
  }
  const before = structuredClone(paymentMethod);
  paymentMethod.billing_details = billingDetails(params, paymentMethod.billing_details);
  paymentMethod.metadata = applyMetadata(paymentMethod.metadata ?? {}, params);
  const card = paymentMethod.card!;
  card.exp_month = optionalInteger(params, 'card[exp_month]') ?? card.exp_month;
  card.exp_year = optionalInteger(params, 'card[exp_year]') ?? card.exp_year;
  ctx.emit('payment_method.updated', paymentMethod, previousOf(before, paymentMethod));
  return paymentMethod;
}

function previousOf(before: Stripe.PaymentMethod, after: Stripe.PaymentMethod): Record<string, unknown> {
  const previous: Record<string, unknown> = {};
  for (const key of ['billing_details', 'metadata', 'card'] as const) {
    if (JSON.stringify(before[key]) !== JSON.stringify(after[key])) previous[key] = before[key];
  }
  return previous;
}

function attach(ctx: ApiContext, path: PathParams): Stripe.PaymentMethod {
  checkParams(ctx.params, { customer: true });
  const customerId = requiredString(ctx.params, 'customer');
  getOrThrow(ctx.state.customers, 'customer', customerId, 'customer');
  const paymentMethod = resolvePaymentMethod(ctx, path.id, 'id');
  if (paymentMethod.customer !== customerId) {
    const failure = cardCheckFailure(ctx, paymentMethod);
    if (failure) throw failure;
  }
  attachPaymentMethod(ctx, paymentMethod, customerId);
  return paymentMethod;
}

function detach(ctx: ApiContext, path: PathParams): Stripe.PaymentMethod {
  checkParams(ctx.params, {});
  const paymentMethod = getOrThrow(ctx.state.paymentMethods, 'PaymentMethod', path.id);
  detachPaymentMethod(ctx, paymentMethod);
  return paymentMethod;
}

function listForCustomer(ctx: ApiContext, customerId: string | undefined, url: string) {
  const type = optionalString(ctx.params, 'type');
  if (type && type !== 'card') return paginate([], ctx.params, url);
  const owned = [...ctx.state.paymentMethods.values()].filter(
    (paymentMethod) => customerId !== undefined && paymentMethod.customer === customerId,
  );
  return paginate(owned, ctx.params, url);
}

/** Without `customer` Stripe lists Treasury PaymentMethods only, which this server has none of. */
function list(ctx: ApiContext) {
  checkParams(ctx.params, { ...LIST_PARAMS, customer: true, type: true });
  const customerId = optionalString(ctx.params, 'customer') ?? undefined;
  if (customerId) getOrThrow(ctx.state.customers, 'customer', customerId, 'customer');
  return listForCustomer(ctx, customerId, '/v1/payment_methods');
}

function listCustomerPaymentMethods(ctx: ApiContext, path: PathParams) {
  checkParams(ctx.params, { ...LIST_PARAMS, type: true, allow_redisplay: true });
  getOrThrow(ctx.state.customers, 'customer', path.customer);
  return listForCustomer(ctx, path.customer, `/v1/customers/${path.customer}/payment_methods`);
}

function retrieveCustomerPaymentMethod(ctx: ApiContext, path: PathParams): Stripe.PaymentMethod {
  checkParams(ctx.params, {});
  getOrThrow(ctx.state.customers, 'customer', path.customer);
  const paymentMethod = getOrThrow(ctx.state.paymentMethods, 'PaymentMethod', path.id);
  if (paymentMethod.customer !== path.customer) {
    throw invalidRequest(`No such PaymentMethod: '${path.id}'`, {
      code: 'resource_missing',
      param: 'id',
      statusCode: 404,
    });
  }
  return paymentMethod;
}

export function registerPaymentMethodRoutes(router: Router): void {
  router
    .post('/v1/payment_methods', createPaymentMethod)
    .get('/v1/payment_methods', list)
    .get('/v1/payment_methods/:id', retrieve)
    .post('/v1/payment_methods/:id', update)
    .post('/v1/payment_methods/:id/attach', attach)
    .post('/v1/payment_methods/:id/detach', detach)
    .get('/v1/customers/:customer/payment_methods', listCustomerPaymentMethods)
    .get('/v1/customers/:customer/payment_methods/:id', retrieveCustomerPaymentMethod);
}
