import { invalidRequest } from '../core/api-error';
import { optionalStringList } from '../core/params';
import { FormObject } from '../http/form-encoding';

/**
 * Which payment method types an intent accepts. API versions before 2026 take
 * `payment_method_types[]`; the version stripe-node 23 speaks takes `allowed_payment_method_types[]`
 * (and `excluded_payment_method_types[]`). Both are read; only `card` exists on this server.
 */
export const PAYMENT_METHOD_TYPE_PARAMS = {
  allowed_payment_method_types: true,
  payment_method_types: true,
  excluded_payment_method_types: true,
} as const;

export interface PaymentMethodTypes {
  /** The list given, or undefined when the request named none. */
  allowed?: string[];
  excluded?: string[];
}

export function readPaymentMethodTypes(params: FormObject): PaymentMethodTypes {
  const allowed = optionalStringList(params, 'allowed_payment_method_types');
  const legacy = optionalStringList(params, 'payment_method_types');
  if (allowed && legacy) {
    throw invalidRequest(
      'You may only specify one of these parameters: allowed_payment_method_types, payment_method_types.',
      { code: 'parameters_exclusive' },
    );
  }
  const param = allowed ? 'allowed_payment_method_types' : 'payment_method_types';
  const unsupported = (allowed ?? legacy)?.find((type) => type !== 'card');
  if (unsupported) {
    throw invalidRequest(
      `The payment method type "${unsupported}" is invalid. This test server supports only "card".`,
      {
        param,
      },
    );
  }
  const excluded = optionalStringList(params, 'excluded_payment_method_types');
  if (excluded?.includes('card')) {
    throw invalidRequest('Excluding "card" leaves no payment method type this test server supports.', {
      param: 'excluded_payment_method_types',
    });
  }
  return { allowed: allowed ?? legacy, excluded };
}
