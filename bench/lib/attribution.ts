/**
 * The API keys and project each bench account has, with ids derived from the account id so the
 * traffic generator and the seeding agree without sharing state (keys and projects must exist:
 * ingest refuses unknown ones).
 */
export const BENCH_KEYS_PER_ACCOUNT = 3;

export function benchKeyId(accountId: string, n: number): string {
  return `${accountId.slice(0, 24)}${(0xa00000000000 + n).toString(16)}`;
}

export function benchProjectId(accountId: string): string {
  return `${accountId.slice(0, 24)}b00000000000`;
}
