import type Stripe from 'stripe';
import { ApiContext, changedAttributes } from '../core/api-context';
import { invalidRequest } from '../core/api-error';
import { newId, randomToken, unixNow } from '../core/ids';
import { LIST_PARAMS, paginate } from '../core/list';
import {
  applyMetadata,
  checkParams,
  oneOf,
  optionalAddress,
  optionalString,
  optionalStringList,
  ParamSpec,
} from '../core/params';
import { getOrThrow } from '../core/state';
import { PathParams, Router } from '../http/router';
import { attachPaymentMethod, cardCheckFailure, resolvePaymentMethod } from './payment-methods.service';

const CUSTOMER_PARAMS: ParamSpec = {
  address: true,
  description: true,
  email: true,
  invoice_settings: ['default_payment_method', 'custom_fields', 'footer', 'rendering_options'],
  metadata: true,
  name: true,
  phone: true,
  preferred_locales: true,
  tax_exempt: true,
};

function findCustomer(ctx: ApiContext, id: string): Stripe.Customer {
  return getOrThrow(ctx.state.customers, 'customer', id);
}

/**
 * Writes the updatable fields present in the parameters onto `customer`. `attaching` is the
 * PaymentMethod a create request attaches, which may already be named as the default.
 */
function applyCustomerParams(
  ctx: ApiContext,
  customer: Stripe.Customer,
  attaching?: { param: string; paymentMethod: Stripe.PaymentMethod },
): void {
  const { params } = ctx;
  for (const field of ['description', 'email', 'name', 'phone'] as const) {
    const value = optionalString(params, field);
    if (value !== undefined) customer[field] = value;
  }
  const address = optionalAddress(params, 'address');
  if (address !== undefined) customer.address = address;
  customer.preferred_locales = optionalStringList(params, 'preferred_locales') ?? customer.preferred_locales;
  customer.tax_exempt =
    oneOf(params, 'tax_exempt', ['none', 'exempt', 'reverse'] as const) ?? customer.tax_exempt;
  customer.metadata = applyMetadata(customer.metadata, params);
  const footer = optionalString(params, 'invoice_settings[footer]');
  if (footer !== undefined) customer.invoice_settings.footer = footer;
  const defaultPaymentMethod = optionalString(params, 'invoice_settings[default_payment_method]');
  if (defaultPaymentMethod === null) customer.invoice_settings.default_payment_method = null;
  if (
    defaultPaymentMethod &&
    attaching &&
    [attaching.param, attaching.paymentMethod.id].includes(defaultPaymentMethod)
  ) {
    customer.invoice_settings.default_payment_method = attaching.paymentMethod.id;
  } else if (defaultPaymentMethod) {
    // Stripe requires the default to be one of the customer's attached PaymentMethods.
    const paymentMethod = ctx.state.paymentMethods.get(defaultPaymentMethod);
    if (!paymentMethod || paymentMethod.customer !== customer.id) {
      throw invalidRequest(
        `The customer does not have a payment method with the ID ${defaultPaymentMethod}. The payment method must be attached to the customer.`,
        { param: 'invoice_settings[default_payment_method]' },
      );
    }
    customer.invoice_settings.default_payment_method = defaultPaymentMethod;
  }
}

function create(ctx: ApiContext): Stripe.Customer {
  checkParams(ctx.params, { ...CUSTOMER_PARAMS, payment_method: true });
  const paymentMethodId = optionalString(ctx.params, 'payment_method');
  const paymentMethod = paymentMethodId ? resolvePaymentMethod(ctx, paymentMethodId, 'payment_method') : null;
  if (paymentMethod) {
    if (paymentMethod.customer !== null) {
      throw invalidRequest('The payment method you provided has already been attached to a customer.', {
        param: 'payment_method',
      });
    }
    const failure = cardCheckFailure(ctx, paymentMethod);
    if (failure) throw failure;
  }
  const customer: Stripe.Customer = {
    id: newId('cus'),
    object: 'customer',
    address: null,
    balance: 0,
    created: unixNow(),
    currency: null,
    default_source: null,
    delinquent: false,
    description: null,
    discount: null,
    email: null,
    invoice_prefix: randomToken(8).toUpperCase(),
    invoice_settings: {
      custom_fields: null,
      default_payment_method: null,
      footer: null,
      rendering_options: null,
    },
    livemode: false,
    metadata: {},
    name: null,
    next_invoice_sequence: 1,
    phone: null,
    preferred_locales: [],
    shipping: null,
    tax_exempt: 'none',
    test_clock: null,
  };
  // Applied before the customer is stored, so a refused parameter leaves nothing behind.
  applyCustomerParams(
    ctx,
    customer,
    paymentMethod && paymentMethodId ? { param: paymentMethodId, paymentMethod } : undefined,
  );
  ctx.state.customers.set(customer.id, customer);
  ctx.emit('customer.created', customer);
  if (paymentMethod) attachPaymentMethod(ctx, paymentMethod, customer.id);
  return customer;
}

function retrieve(ctx: ApiContext, path: PathParams): Stripe.Customer | Stripe.DeletedCustomer {
  checkParams(ctx.params, {});
  if (ctx.state.deletedCustomers.has(path.id)) return { id: path.id, object: 'customer', deleted: true };
  return findCustomer(ctx, path.id);
}

function update(ctx: ApiContext, path: PathParams): Stripe.Customer {
  checkParams(ctx.params, CUSTOMER_PARAMS);
  const customer = findCustomer(ctx, path.id);
  const before = structuredClone(customer);
  const draft = structuredClone(customer);
  applyCustomerParams(ctx, draft);
  ctx.state.customers.set(customer.id, draft);
  const previous = changedAttributes(before, draft);
  if (Object.keys(previous).length > 0) ctx.emit('customer.updated', draft, previous);
  return draft;
}

/** Deleting a customer detaches its PaymentMethods; retrieving it afterwards answers `deleted: true`. */
function remove(ctx: ApiContext, path: PathParams): Stripe.DeletedCustomer {
  checkParams(ctx.params, {});
  const customer = findCustomer(ctx, path.id);
  for (const paymentMethod of ctx.state.paymentMethods.values()) {
    if (paymentMethod.customer === customer.id) {
      paymentMethod.customer = null;
      ctx.state.consumedPaymentMethods.add(paymentMethod.id);
    }
  }
  ctx.state.customers.delete(customer.id);
  ctx.state.deletedCustomers.add(customer.id);
  ctx.emit('customer.deleted', customer);
  return { id: customer.id, object: 'customer', deleted: true };
}

function list(ctx: ApiContext) {
  checkParams(ctx.params, { ...LIST_PARAMS, email: true });
  const email = optionalString(ctx.params, 'email');
  const customers = [...ctx.state.customers.values()].filter(
    (customer) => !email || customer.email === email,
  );
  return paginate(customers, ctx.params, '/v1/customers');
}

export function registerCustomerRoutes(router: Router): void {
  router
    .post('/v1/customers', create)
    .get('/v1/customers', list)
    .get('/v1/customers/:id', retrieve)
    .post('/v1/customers/:id', update)
    .delete('/v1/customers/:id', remove);
}
