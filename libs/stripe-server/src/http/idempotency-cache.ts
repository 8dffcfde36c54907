import { idempotencyError } from '../core/api-error';
import { FormObject } from './form-encoding';

export interface StoredResponse {
  method: string;
  path: string;
  fingerprint: string;
  statusCode: number;
  body: string;
  requestId: string;
  storedAt: number;
}

/** Stripe keeps idempotency keys for at least 24 hours. */
const RETENTION_MS = 24 * 3600_000;

/** Canonical JSON (sorted keys), so the same parameters in another order still match. */
export function paramsFingerprint(params: FormObject): string {
  const canonical = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(canonical);
    if (value && typeof value === 'object') {
      return Object.fromEntries(
        Object.keys(value)
          .sort()
          .map((key) => [key, canonical((value as Record<string, unknown>)[key])]),
      );
    }
    return value;
  };
  return JSON.stringify(canonical(params));
}

/**
 * Stripe's `Idempotency-Key` semantics for POST requests: the first response for a key is saved
 * and replayed for the same endpoint and parameters; reusing the key for another endpoint or other
 * parameters is an idempotency_error. Only requests that ran are saved (2xx and card errors), so a
 * request refused by validation can be corrected and retried with the same key.
 */
export class IdempotencyCache {
  private readonly entries = new Map<string, StoredResponse>();

  /** The saved response to replay, undefined for a new key; throws for a mismatched reuse. */
  lookup(key: string, method: string, path: string, fingerprint: string): StoredResponse | undefined {
    const stored = this.entries.get(key);
    if (!stored) return undefined;
    if (Date.now() - stored.storedAt > RETENTION_MS) {
      this.entries.delete(key);
      return undefined;
    }
    if (stored.method !== method || stored.path !== path) {
      throw idempotencyError(
        `Keys for idempotent requests can only be used for the same endpoint they were first used for ('${stored.method} ${stored.path}' vs '${method} ${path}'). Try using a key other than '${key}' if you meant to execute a different request.`,
      );
    }
    if (stored.fingerprint !== fingerprint) {
      throw idempotencyError(
        `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
      );
    }
    return stored;
  }

  store(key: string, response: Omit<StoredResponse, 'storedAt'>): void {
    if (response.statusCode >= 300 && response.statusCode !== 402) return;
    this.entries.set(key, { ...response, storedAt: Date.now() });
  }

  /** Forgets one key, as Stripe does once it is older than the retention; false if it was not kept. */
  forget(key: string): boolean {
    return this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }
}
