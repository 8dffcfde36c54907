import type Stripe from 'stripe';
import { ApiContext } from '../core/api-context';
import { invalidRequest, unexpectedState } from '../core/api-error';
import { clientSecret, newId, unixNow } from '../core/ids';
import { LIST_PARAMS, paginate } from '../core/list';
import {
  applyMetadata,
  checkParams,
  oneOf,
  optionalBoolean,
  optionalObject,
  optionalString,
  ParamSpec,
  requiredInteger,
  requiredString,
} from '../core/params';
import { getOrThrow } from '../core/state';
import { FormObject } from '../http/form-encoding';
import { PathParams, Router } from '../http/router';
import { attemptPayment, cancelPaymentIntent, ConfirmOptions } from './payment-intents.service';
import {
  PAYMENT_METHOD_TYPE_PARAMS,
  PaymentMethodTypes,
  readPaymentMethodTypes,
} from './payment-method-types';
import { checkOwnership, resolvePaymentMethod } from './payment-methods.service';

/** Smallest charge in the currency's minor unit: Stripe refuses less than $0.50. */
const MINIMUM_AMOUNT: Record<string, number> = { usd: 50, eur: 50, gbp: 30, cad: 50, aud: 50 };
const MAXIMUM_AMOUNT = 99_999_999;
const CANCELABLE = [
  'requires_payment_method',
  'requires_capture',
  'requires_confirmation',
  'requires_action',
  'processing',
];
const CONFIRMABLE = ['requires_payment_method', 'requires_confirmation', 'requires_action'];

/** Parameters that both create (with confirm=true) and confirm take. */
const CONFIRM_PARAMS: ParamSpec = {
  payment_method: true,
  off_session: true,
  return_url: true,
  error_on_requires_action: true,
  use_stripe_sdk: true,
  mandate_data: true,
  payment_method_options: true,
  ...PAYMENT_METHOD_TYPE_PARAMS,
  receipt_email: true,
  setup_future_usage: true,
};

const UPDATE_PARAMS: ParamSpec = {
  amount: true,
  currency: true,
  customer: true,
  description: true,
  metadata: true,
  payment_method: true,
  ...PAYMENT_METHOD_TYPE_PARAMS,
  receipt_email: true,
  setup_future_usage: true,
  statement_descriptor_suffix: true,
};

function findPaymentIntent(ctx: ApiContext, id: string): Stripe.PaymentIntent {
  return getOrThrow(ctx.state.paymentIntents, 'payment_intent', id);
}

function readAmount(params: FormObject, currency: string): number {
  const amount = requiredInteger(params, 'amount');
  const minimum = MINIMUM_AMOUNT[currency] ?? 1;
  if (amount < minimum) {
    throw invalidRequest(`Amount must be at least ${minimum} ${currency} (in the smallest currency unit).`, {
      param: 'amount',
      code: 'amount_too_small',
    });
  }
  if (amount > MAXIMUM_AMOUNT) {
    throw invalidRequest(`Amount must be no more than ${MAXIMUM_AMOUNT} (in the smallest currency unit).`, {
      param: 'amount',
      code: 'amount_too_large',
    });
  }
  return amount;
}

function readCurrency(params: FormObject): string {
  const currency = requiredString(params, 'currency').toLowerCase();
  if (!/^[a-z]{3}$/.test(currency))
    throw invalidRequest(`Invalid currency: ${currency}`, { param: 'currency' });
  return currency;
}

function readCustomer(ctx: ApiContext): string | null | undefined {
  const customerId = optionalString(ctx.params, 'customer');
  if (customerId) getOrThrow(ctx.state.customers, 'customer', customerId, 'customer');
  return customerId;
}

/** `off_session` is a boolean or `one_off` / `recurring`; any of those but false means true. */
function readOffSession(params: FormObject): boolean {
  const value = optionalString(params, 'off_session');
  if (value === undefined || value === null || value === 'false') return false;
  if (['true', 'one_off', 'recurring'].includes(value)) return true;
  throw invalidRequest(`Invalid off_session: ${value}`, { param: 'off_session' });
}

/** Writes the accepted payment method types named in the request onto the intent. */
function applyPaymentMethodTypes(paymentIntent: Stripe.PaymentIntent, types: PaymentMethodTypes): void {
  if (types.allowed) {
    paymentIntent.allowed_payment_method_types = types.allowed;
    paymentIntent.payment_method_types = types.allowed;
    paymentIntent.automatic_payment_methods = null;
  }
  if (types.excluded) paymentIntent.excluded_payment_method_types = types.excluded;
}

const readSetupFutureUsage = (params: FormObject) =>
  oneOf(params, 'setup_future_usage', ['off_session', 'on_session'] as const);

/** Applies a `payment_method` parameter: test ids become new PaymentMethods; owner must match. */
function applyPaymentMethod(ctx: ApiContext, paymentIntent: Stripe.PaymentIntent): void {
  const id = optionalString(ctx.params, 'payment_method');
  if (id === undefined) return;
  if (id === null) {
    paymentIntent.payment_method = null;
    return;
  }
  const paymentMethod = resolvePaymentMethod(ctx, id, 'payment_method');
  checkOwnership(paymentMethod, paymentIntent.customer as string | null);
  paymentIntent.payment_method = paymentMethod.id;
}

/** How a confirmation treats 3DS: error_on_requires_action behaves like an off-session payment. */
function confirmOptions(params: FormObject): ConfirmOptions {
  const errorOnRequiresAction = optionalBoolean(params, 'error_on_requires_action') ?? false;
  return { offSession: readOffSession(params) || errorOnRequiresAction };
}

function missingPaymentMethod() {
  return unexpectedState(
    'payment_intent_unexpected_state',
    "You cannot confirm this PaymentIntent because it's missing a payment method. Confirm it again with a payment_method.",
  );
}

function confirm(ctx: ApiContext, path: PathParams): Stripe.PaymentIntent {
  const { params } = ctx;
  checkParams(params, { ...CONFIRM_PARAMS, client_secret: true, capture_method: true });
  const paymentIntent = findPaymentIntent(ctx, path.id);
  if (!CONFIRMABLE.includes(paymentIntent.status)) {
    throw unexpectedState(
      'payment_intent_unexpected_state',
      `You cannot confirm this PaymentIntent because it has a status of ${paymentIntent.status}.`,
    );
  }
  const options = confirmOptions(params);
  const setupFutureUsage = readSetupFutureUsage(params);
  const types = readPaymentMethodTypes(params);
  applyPaymentMethod(ctx, paymentIntent);
  if (!paymentIntent.payment_method) throw missingPaymentMethod();
  paymentIntent.setup_future_usage = setupFutureUsage ?? paymentIntent.setup_future_usage;
  applyPaymentMethodTypes(paymentIntent, types);
  paymentIntent.receipt_email = optionalString(params, 'receipt_email') ?? paymentIntent.receipt_email;
  return attemptPayment(ctx, paymentIntent, options);
}

function create(ctx: ApiContext): Stripe.PaymentIntent {
  const { params } = ctx;
  checkParams(params, {
    ...UPDATE_PARAMS,
    ...CONFIRM_PARAMS,
    confirm: true,
    automatic_payment_methods: ['enabled', 'allow_redirects'],
    capture_method: true,
    confirmation_method: true,
  });
  const currency = readCurrency(params);
  const amount = readAmount(params, currency);
  const customer = readCustomer(ctx) ?? null;
  const shouldConfirm = optionalBoolean(params, 'confirm') ?? false;
  if (!shouldConfirm && readOffSession(params)) {
    throw invalidRequest('off_session can only be used when confirm is true.', { param: 'off_session' });
  }
  const captureMethod = oneOf(params, 'capture_method', ['automatic', 'automatic_async', 'manual'] as const);
  if (captureMethod === 'manual') {
    throw invalidRequest('This test server supports only automatic capture.', { param: 'capture_method' });
  }
  const types = readPaymentMethodTypes(params);
  const automatic = optionalObject(params, 'automatic_payment_methods');
  if (types.allowed && automatic) {
    throw invalidRequest(
      'You may only specify one of these parameters: automatic_payment_methods, allowed_payment_method_types.',
      { code: 'parameters_exclusive' },
    );
  }
  // Since API version 2023-08-16, automatic payment methods are on unless types are given.
  const automaticPaymentMethods: Stripe.PaymentIntent.AutomaticPaymentMethods | null = types.allowed
    ? null
    : {
        enabled: optionalBoolean(params, 'automatic_payment_methods[enabled]') ?? true,
        allow_redirects:
          oneOf(params, 'automatic_payment_methods[allow_redirects]', ['always', 'never'] as const) ??
          'always',
      };
  const id = newId('pi');
  const paymentIntent: Stripe.PaymentIntent = {
    id,
    object: 'payment_intent',
    allowed_payment_method_types: types.allowed ?? null,
    amount,
    amount_capturable: 0,
    amount_details: { tip: {} },
    amount_received: 0,
    application: null,
    application_fee_amount: null,
    automatic_payment_methods: automaticPaymentMethods,
    canceled_at: null,
    cancellation_reason: null,
    capture_method: captureMethod ?? 'automatic_async',
    client_secret: clientSecret(id),
    confirmation_method: 'automatic',
    created: unixNow(),
    currency,
    customer,
    customer_account: null,
    description: optionalString(params, 'description') ?? null,
    excluded_payment_method_types: types.excluded ?? null,
    last_payment_error: null,
    latest_charge: null,
    livemode: false,
    managed_payments: null,
    metadata: applyMetadata({}, params),
    next_action: null,
    on_behalf_of: null,
    payment_method: null,
    payment_method_configuration_details: null,
    payment_method_options: {
      card: { installments: null, mandate_options: null, network: null, request_three_d_secure: 'automatic' },
    },
    payment_method_types: types.allowed ?? ['card'],
    payment_record: null,
    processing: null,
    receipt_email: optionalString(params, 'receipt_email') ?? null,
    review: null,
    setup_future_usage: readSetupFutureUsage(params) ?? null,
    shipping: null,
    source: null,
    statement_descriptor: null,
    statement_descriptor_suffix: optionalString(params, 'statement_descriptor_suffix') ?? null,
    status: 'requires_payment_method',
    transfer_data: null,
    transfer_group: null,
  };
  const options = confirmOptions(params);
  applyPaymentMethod(ctx, paymentIntent);
  if (paymentIntent.payment_method) paymentIntent.status = 'requires_confirmation';
  else if (shouldConfirm) throw missingPaymentMethod();
  ctx.state.paymentIntents.set(id, paymentIntent);
  ctx.emit('payment_intent.created', paymentIntent);
  return shouldConfirm ? attemptPayment(ctx, paymentIntent, options) : paymentIntent;
}

function retrieve(ctx: ApiContext, path: PathParams): Stripe.PaymentIntent {
  checkParams(ctx.params, { client_secret: true });
  return findPaymentIntent(ctx, path.id);
}

function update(ctx: ApiContext, path: PathParams): Stripe.PaymentIntent {
  const { params } = ctx;
  checkParams(params, UPDATE_PARAMS);
  const paymentIntent = findPaymentIntent(ctx, path.id);
  if (!CONFIRMABLE.includes(paymentIntent.status)) {
    throw unexpectedState(
      'payment_intent_unexpected_state',
      `You cannot update this PaymentIntent because it has a status of ${paymentIntent.status}.`,
    );
  }
  const draft = structuredClone(paymentIntent);
  if (params.currency !== undefined) draft.currency = readCurrency(params);
  if (params.amount !== undefined) draft.amount = readAmount(params, draft.currency);
  const customer = readCustomer(ctx);
  if (customer !== undefined) draft.customer = customer;
  const description = optionalString(params, 'description');
  if (description !== undefined) draft.description = description;
  draft.metadata = applyMetadata(draft.metadata, params);
  applyPaymentMethodTypes(draft, readPaymentMethodTypes(params));
  draft.receipt_email = optionalString(params, 'receipt_email') ?? draft.receipt_email;
  draft.setup_future_usage = readSetupFutureUsage(params) ?? draft.setup_future_usage;
  applyPaymentMethod(ctx, draft);
  if (params.payment_method !== undefined) {
    // A new payment method starts a new attempt: any pending 3DS belongs to the old one.
    draft.status = draft.payment_method ? 'requires_confirmation' : 'requires_payment_method';
    draft.next_action = null;
  }
  ctx.state.paymentIntents.set(draft.id, draft);
  return draft;
}

function cancel(ctx: ApiContext, path: PathParams): Stripe.PaymentIntent {
  checkParams(ctx.params, { cancellation_reason: true });
  const reason = oneOf(ctx.params, 'cancellation_reason', [
    'duplicate',
    'fraudulent',
    'requested_by_customer',
    'abandoned',
  ] as const);
  const paymentIntent = findPaymentIntent(ctx, path.id);
  if (!CANCELABLE.includes(paymentIntent.status)) {
    throw unexpectedState(
      'payment_intent_unexpected_state',
      `You cannot cancel this PaymentIntent because it has a status of ${paymentIntent.status}. Only a PaymentIntent with one of the following statuses may be canceled: ${CANCELABLE.join(', ')}.`,
    );
  }
  return cancelPaymentIntent(ctx, paymentIntent, reason ?? null);
}

function list(ctx: ApiContext) {
  checkParams(ctx.params, { ...LIST_PARAMS, customer: true });
  const customer = optionalString(ctx.params, 'customer');
  const intents = [...ctx.state.paymentIntents.values()].filter(
    (pi) => !customer || pi.customer === customer,
  );
  return paginate(intents, ctx.params, '/v1/payment_intents');
}

export function registerPaymentIntentRoutes(router: Router): void {
  router
    .post('/v1/payment_intents', create)
    .get('/v1/payment_intents', list)
    .get('/v1/payment_intents/:id', retrieve)
    .post('/v1/payment_intents/:id', update)
    .post('/v1/payment_intents/:id/confirm', confirm)
    .post('/v1/payment_intents/:id/cancel', cancel);
}
