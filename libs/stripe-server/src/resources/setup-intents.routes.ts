import type Stripe from 'stripe';
import { ApiContext } from '../core/api-context';
import { unexpectedState } from '../core/api-error';
import { clientSecret, newId, unixNow } from '../core/ids';
import { LIST_PARAMS, paginate } from '../core/list';
import {
  applyMetadata,
  checkParams,
  oneOf,
  optionalBoolean,
  optionalString,
  ParamSpec,
} from '../core/params';
import { getOrThrow } from '../core/state';
import { PathParams, Router } from '../http/router';
import { checkOwnership, resolvePaymentMethod } from './payment-methods.service';
import {
  PAYMENT_METHOD_TYPE_PARAMS,
  PaymentMethodTypes,
  readPaymentMethodTypes,
} from './payment-method-types';
import { attemptSetup } from './setup-intents.service';

const CONFIRMABLE = ['requires_payment_method', 'requires_confirmation', 'requires_action'];
const CONFIRM_PARAMS: ParamSpec = {
  payment_method: true,
  return_url: true,
  mandate_data: true,
  payment_method_options: true,
  use_stripe_sdk: true,
};
const UPDATE_PARAMS: ParamSpec = {
  customer: true,
  description: true,
  metadata: true,
  payment_method: true,
  ...PAYMENT_METHOD_TYPE_PARAMS,
};

function findSetupIntent(ctx: ApiContext, id: string): Stripe.SetupIntent {
  return getOrThrow(ctx.state.setupIntents, 'setupintent', id);
}

function applyPaymentMethod(ctx: ApiContext, setupIntent: Stripe.SetupIntent): void {
  const id = optionalString(ctx.params, 'payment_method');
  if (id === undefined) return;
  if (id === null) {
    setupIntent.payment_method = null;
    return;
  }
  const paymentMethod = resolvePaymentMethod(ctx, id, 'payment_method');
  checkOwnership(paymentMethod, setupIntent.customer as string | null);
  setupIntent.payment_method = paymentMethod.id;
}

function applyPaymentMethodTypes(setupIntent: Stripe.SetupIntent, types: PaymentMethodTypes): void {
  if (types.allowed) {
    setupIntent.allowed_payment_method_types = types.allowed;
    setupIntent.payment_method_types = types.allowed;
    setupIntent.automatic_payment_methods = null;
  }
  if (types.excluded) setupIntent.excluded_payment_method_types = types.excluded;
}

function missingPaymentMethod() {
  return unexpectedState(
    'setup_intent_unexpected_state',
    "You cannot confirm this SetupIntent because it's missing a payment method. Confirm it again with a payment_method.",
  );
}

function create(ctx: ApiContext): Stripe.SetupIntent {
  const { params } = ctx;
  checkParams(params, {
    ...UPDATE_PARAMS,
    ...CONFIRM_PARAMS,
    confirm: true,
    usage: true,
    automatic_payment_methods: ['enabled', 'allow_redirects'],
  });
  const customer = optionalString(params, 'customer') ?? null;
  if (customer) getOrThrow(ctx.state.customers, 'customer', customer, 'customer');
  const types = readPaymentMethodTypes(params);
  const shouldConfirm = optionalBoolean(params, 'confirm') ?? false;
  const id = newId('seti');
  const setupIntent: Stripe.SetupIntent = {
    id,
    object: 'setup_intent',
    allowed_payment_method_types: types.allowed ?? null,
    application: null,
    automatic_payment_methods: types.allowed
      ? null
      : {
          enabled: optionalBoolean(params, 'automatic_payment_methods[enabled]') ?? true,
          allow_redirects:
            oneOf(params, 'automatic_payment_methods[allow_redirects]', ['always', 'never'] as const) ??
            'always',
        },
    cancellation_reason: null,
    client_secret: clientSecret(id),
    created: unixNow(),
    customer,
    customer_account: null,
    description: optionalString(params, 'description') ?? null,
    excluded_payment_method_types: types.excluded ?? null,
    flow_directions: null,
    last_setup_error: null,
    latest_attempt: null,
    livemode: false,
    mandate: null,
    metadata: applyMetadata({}, params),
    next_action: null,
    on_behalf_of: null,
    payment_method: null,
    payment_method_configuration_details: null,
    payment_method_options: {
      card: { mandate_options: null, network: null, request_three_d_secure: 'automatic' },
    },
    payment_method_types: types.allowed ?? ['card'],
    single_use_mandate: null,
    status: 'requires_payment_method',
    usage: oneOf(params, 'usage', ['off_session', 'on_session'] as const) ?? 'off_session',
  };
  applyPaymentMethod(ctx, setupIntent);
  if (setupIntent.payment_method) setupIntent.status = 'requires_confirmation';
  else if (shouldConfirm) throw missingPaymentMethod();
  ctx.state.setupIntents.set(id, setupIntent);
  ctx.emit('setup_intent.created', setupIntent);
  return shouldConfirm ? attemptSetup(ctx, setupIntent) : setupIntent;
}

function retrieve(ctx: ApiContext, path: PathParams): Stripe.SetupIntent {
  checkParams(ctx.params, { client_secret: true });
  return findSetupIntent(ctx, path.id);
}

function update(ctx: ApiContext, path: PathParams): Stripe.SetupIntent {
  checkParams(ctx.params, UPDATE_PARAMS);
  const setupIntent = findSetupIntent(ctx, path.id);
  if (!CONFIRMABLE.includes(setupIntent.status)) {
    throw unexpectedState(
      'setup_intent_unexpected_state',
      `You cannot update this SetupIntent because it has a status of ${setupIntent.status}.`,
    );
  }
  const draft = structuredClone(setupIntent);
  const customer = optionalString(ctx.params, 'customer');
  if (customer) getOrThrow(ctx.state.customers, 'customer', customer, 'customer');
  if (customer !== undefined) draft.customer = customer;
  const description = optionalString(ctx.params, 'description');
  if (description !== undefined) draft.description = description;
  draft.metadata = applyMetadata(draft.metadata ?? {}, ctx.params);
  applyPaymentMethodTypes(draft, readPaymentMethodTypes(ctx.params));
  applyPaymentMethod(ctx, draft);
  if (ctx.params.payment_method !== undefined) {
    draft.status = draft.payment_method ? 'requires_confirmation' : 'requires_payment_method';
    draft.next_action = null;
  }
  ctx.state.setupIntents.set(draft.id, draft);
  return draft;
}

function confirm(ctx: ApiContext, path: PathParams): Stripe.SetupIntent {
  checkParams(ctx.params, { ...CONFIRM_PARAMS, client_secret: true });
  const setupIntent = findSetupIntent(ctx, path.id);
  if (!CONFIRMABLE.includes(setupIntent.status)) {
    throw unexpectedState(
      'setup_intent_unexpected_state',
      `You cannot confirm this SetupIntent because it has a status of ${setupIntent.status}.`,
    );
  }
  applyPaymentMethod(ctx, setupIntent);
  if (!setupIntent.payment_method) throw missingPaymentMethod();
  return attemptSetup(ctx, setupIntent);
}

function cancel(ctx: ApiContext, path: PathParams): Stripe.SetupIntent {
  checkParams(ctx.params, { cancellation_reason: true });
  const reason = oneOf(ctx.params, 'cancellation_reason', [
    'abandoned',
    'requested_by_customer',
    'duplicate',
  ] as const);
  const setupIntent = findSetupIntent(ctx, path.id);
  if (!CONFIRMABLE.includes(setupIntent.status)) {
    throw unexpectedState(
      'setup_intent_unexpected_state',
      `You cannot cancel this SetupIntent because it has a status of ${setupIntent.status}.`,
    );
  }
  Object.assign(setupIntent, { status: 'canceled', cancellation_reason: reason ?? null, next_action: null });
  ctx.emit('setup_intent.canceled', setupIntent);
  return setupIntent;
}

function list(ctx: ApiContext) {
  checkParams(ctx.params, { ...LIST_PARAMS, customer: true, payment_method: true });
  const customer = optionalString(ctx.params, 'customer');
  const paymentMethod = optionalString(ctx.params, 'payment_method');
  const intents = [...ctx.state.setupIntents.values()].filter(
    (si) =>
      (!customer || si.customer === customer) && (!paymentMethod || si.payment_method === paymentMethod),
  );
  return paginate(intents, ctx.params, '/v1/setup_intents');
}

export function registerSetupIntentRoutes(router: Router): void {
  router
    .post('/v1/setup_intents', create)
    .get('/v1/setup_intents', list)
    .get('/v1/setup_intents/:id', retrieve)
    .post('/v1/setup_intents/:id', update)
    .post('/v1/setup_intents/:id/confirm', confirm)
    .post('/v1/setup_intents/:id/cancel', cancel);
}
