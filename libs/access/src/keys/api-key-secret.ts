import { API_KEY_PATTERN } from '@app/http';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

const PREFIX_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

export interface NewApiKeySecret {
  /** The whole key, shown to its creator once and never stored. */
  key: string;
  prefix: string;
  secretHash: Buffer;
}

export function hashApiKey(key: string): Buffer {
  return createHash('sha256').update(key).digest();
}

/**
 * A new key "bk_<12-char prefix>_<43-char secret>": the prefix finds the row, the 256-bit secret
 * proves possession. Only the prefix and a SHA-256 of the whole key are stored.
 */
export function generateApiKey(): NewApiKeySecret {
  const bytes = randomBytes(12);
  const prefix = [...bytes].map((byte) => PREFIX_ALPHABET[byte % PREFIX_ALPHABET.length]).join('');
  const key = `bk_${prefix}_${randomBytes(32).toString('base64url')}`;
  return { key, prefix, secretHash: hashApiKey(key) };
}

/** The prefix of a well-formed key, or null. */
export function apiKeyPrefix(key: string): string | null {
  return API_KEY_PATTERN.exec(key)?.[1] ?? null;
}

/** Constant-time comparison of a presented key with a stored hash. */
export function apiKeyMatches(key: string, secretHash: Buffer): boolean {
  const presented = hashApiKey(key);
  return presented.length === secretHash.length && timingSafeEqual(presented, secretHash);
}
