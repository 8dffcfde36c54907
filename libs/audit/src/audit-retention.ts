import { Account } from '@app/db';

type AccountTier = Account['tier'];

/** How long audit rows are kept, in days, by the account's current tier. */
export interface AuditRetention {
  freeDays: number;
  developerDays: number;
  enterpriseDays: number;
}

export const AUDIT_RETENTION = Symbol('AUDIT_RETENTION');

export const DEFAULT_AUDIT_RETENTION: AuditRetention = {
  freeDays: 30,
  developerDays: 90,
  enterpriseDays: 400,
};

const DAY_MS = 86_400_000;

export function retentionDays(retention: AuditRetention, tier: AccountTier): number {
  switch (tier) {
    case 'free':
      return retention.freeDays;
    case 'developer':
      return retention.developerDays;
    case 'enterprise':
      return retention.enterpriseDays;
  }
}

/** Rows created before this instant are expired for the tier. Days are 24 h: no DST ambiguity. */
export function retentionCutoff(retention: AuditRetention, tier: AccountTier, now: Date): Date {
  return new Date(now.getTime() - retentionDays(retention, tier) * DAY_MS);
}

export function assertValidRetention(retention: AuditRetention): void {
  for (const [name, days] of Object.entries(retention)) {
    // A zero or negative retention would delete the whole log on the next run.
    if (!Number.isInteger(days) || days < 1)
      throw new Error(`audit retention ${name} must be a whole number >= 1`);
  }
}
