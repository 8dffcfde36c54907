import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Random base62 text, the alphabet Stripe ids use after their prefix. */
export function randomToken(length = 24): string {
  let token = '';
  for (const byte of randomBytes(length)) token += ALPHABET[byte % ALPHABET.length];
  return token;
}

/** Object id prefixes, as in Stripe (consumers sometimes branch on them). */
export type IdPrefix =
  'cus' | 'pm' | 'seti' | 'pi' | 'ch' | 're' | 'dp' | 'evt' | 'txn' | 'req' | 'src' | 'whdel';

export function newId(prefix: IdPrefix): string {
  return `${prefix}_${randomToken(24)}`;
}

/** `<intent id>_secret_<random>`, the client secret format of PaymentIntents and SetupIntents. */
export function clientSecret(intentId: string): string {
  return `${intentId}_secret_${randomToken(25)}`;
}

/** Stripe timestamps are whole unix seconds. */
export function unixNow(): number {
  return Math.floor(Date.now() / 1000);
}
