import { FormObject, FormValue } from '../http/form-encoding';
import { invalidRequest, missingParam, unknownParam } from './api-error';

/**
 * Which parameters an endpoint accepts. A name maps to `true` (any value) or to the list of keys
 * its object may hold. Stripe refuses unknown parameters, which catches typos in callers here too.
 */
export type ParamSpec = Record<string, true | readonly string[]>;

export function checkParams(params: FormObject, spec: ParamSpec): void {
  for (const [name, value] of Object.entries(params)) {
    if (name === 'expand') continue;
    const allowed = spec[name];
    if (allowed === undefined) throw unknownParam(name);
    if (allowed === true || typeof value === 'string' || Array.isArray(value)) continue;
    for (const key of Object.keys(value)) {
      if (!allowed.includes(key)) throw unknownParam(`${name}[${key}]`);
    }
  }
}

/** `invoice_settings[default_payment_method]` → the value at that path, if any. */
function valueAt(params: FormObject, name: string): FormValue | undefined {
  const path = name.replace(/\]/g, '').split('[');
  let value: FormValue | undefined = params;
  for (const key of path) {
    if (value === undefined || typeof value === 'string' || Array.isArray(value)) return undefined;
    value = value[key];
  }
  return value;
}

/** A string parameter; `''` (Stripe's way of unsetting a field) is returned as null. */
export function optionalString(params: FormObject, name: string): string | null | undefined {
  const value = valueAt(params, name);
  if (value === undefined) return undefined;
  if (typeof value !== 'string')
    throw invalidRequest(`Invalid string: ${name} must be a string`, { param: name });
  return value === '' ? null : value;
}

export function requiredString(params: FormObject, name: string): string {
  const value = optionalString(params, name);
  if (value === undefined || value === null) throw missingParam(name);
  return value;
}

export function optionalInteger(params: FormObject, name: string): number | undefined {
  const value = valueAt(params, name);
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !/^-?\d{1,15}$/.test(value)) {
    throw invalidRequest(`Invalid integer: ${typeof value === 'string' ? value : name}`, {
      param: name,
      code: 'parameter_invalid_integer',
    });
  }
  return Number(value);
}

export function requiredInteger(params: FormObject, name: string): number {
  const value = optionalInteger(params, name);
  if (value === undefined) throw missingParam(name);
  return value;
}

export function optionalBoolean(params: FormObject, name: string): boolean | undefined {
  const value = valueAt(params, name);
  if (value === undefined) return undefined;
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw invalidRequest(`Invalid boolean: ${typeof value === 'string' ? value : name}`, { param: name });
}

export function optionalStringList(params: FormObject, name: string): string[] | undefined {
  const value = valueAt(params, name);
  if (value === undefined) return undefined;
  const list = typeof value === 'string' ? (value === '' ? [] : [value]) : value;
  if (!Array.isArray(list) || list.some((item) => typeof item !== 'string')) {
    throw invalidRequest(`Invalid array: ${name} must be a list of strings`, { param: name });
  }
  return list as string[];
}

export function optionalObject(params: FormObject, name: string): FormObject | null | undefined {
  const value = valueAt(params, name);
  if (value === undefined) return undefined;
  if (value === '') return null;
  if (typeof value === 'string' || Array.isArray(value)) {
    throw invalidRequest(`Invalid object: ${name} must be a hash`, { param: name });
  }
  return value;
}

export function oneOf<T extends string>(
  params: FormObject,
  name: string,
  allowed: readonly T[],
): T | undefined {
  const value = optionalString(params, name);
  if (value === undefined || value === null) return undefined;
  if (!(allowed as readonly string[]).includes(value)) {
    throw invalidRequest(`Invalid ${name}: must be one of ${allowed.join(', ')}`, { param: name });
  }
  return value as T;
}

const METADATA_LIMITS = { keys: 50, keyLength: 40, valueLength: 500 };

/**
 * Applies a `metadata` parameter the way Stripe does: keys are merged into the current metadata,
 * a key set to `''` is removed, and `metadata=` clears it all.
 */
export function applyMetadata(current: Record<string, string>, params: FormObject): Record<string, string> {
  const update = optionalObject(params, 'metadata');
  if (update === undefined) return current;
  if (update === null) return {};
  const result = { ...current };
  for (const [key, value] of Object.entries(update)) {
    if (typeof value !== 'string') {
      throw invalidRequest(`Invalid metadata: metadata[${key}] must be a string`, {
        param: `metadata[${key}]`,
      });
    }
    if (key.length > METADATA_LIMITS.keyLength || value.length > METADATA_LIMITS.valueLength) {
      throw invalidRequest(
        `Metadata keys can be up to ${METADATA_LIMITS.keyLength} characters and values up to ${METADATA_LIMITS.valueLength}.`,
        { param: `metadata[${key}]` },
      );
    }
    if (value === '') delete result[key];
    else result[key] = value;
  }
  if (Object.keys(result).length > METADATA_LIMITS.keys) {
    throw invalidRequest(`Metadata can have up to ${METADATA_LIMITS.keys} keys.`, { param: 'metadata' });
  }
  return result;
}

/** Stripe's `expand[]` parameter: dotted paths of ids to replace by their objects. */
export function expandPaths(params: FormObject): string[] {
  return optionalStringList(params, 'expand') ?? [];
}

const ADDRESS_FIELDS = ['city', 'country', 'line1', 'line2', 'postal_code', 'state'] as const;
export type Address = Record<(typeof ADDRESS_FIELDS)[number], string | null>;
export const ADDRESS_PARAMS = ADDRESS_FIELDS;

/** An `address[...]` hash; missing fields are null, `address=` unsets it. */
export function optionalAddress(params: FormObject, name: string): Address | null | undefined {
  const value = optionalObject(params, name);
  if (value === undefined || value === null) return value;
  const address = {} as Address;
  for (const field of ADDRESS_FIELDS) address[field] = optionalString(params, `${name}[${field}]`) ?? null;
  for (const key of Object.keys(value)) {
    if (!(ADDRESS_FIELDS as readonly string[]).includes(key)) throw unknownParam(`${name}[${key}]`);
  }
  return address;
}
