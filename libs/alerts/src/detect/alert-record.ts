import { BudgetCounterRef } from '@app/usage';
import { BudgetScope } from '../spend.repository';

/** One entry of reserve-change.lua's alert record that raises an alert. */
export type RecordedCrossing =
  | {
      type: 'budget';
      /** The counter's field in the balance hash. */
      field: string;
      scope: BudgetScope;
      scopeId: string | null;
      period: string;
      percent: number;
      /** The counter after the change, as reserve read it. */
      spendMicros: bigint;
      /** What the change added to the counter (its "inc" entry): all its events, duplicates included. */
      appliedMicros: bigint;
    }
  | { type: 'low_balance'; balanceMicros: bigint };

const SCOPE_OF_TAG: Record<string, BudgetScope> = { a: 'account', k: 'api_key', p: 'project' };
const TAG_OF_SCOPE: Record<BudgetScope, string> = { account: 'a', api_key: 'k', project: 'p' };

/** The balance-hash field of a budget counter: "s:a:<YYYY-MM>", "s:k:<key id>:<YYYY-MM>", "s:p:<project id>:<YYYY-MM>". */
export function budgetCounterField(scope: BudgetScope, scopeId: string | null, period: string): string {
  return scope === 'account' ? `s:a:${period}` : `s:${TAG_OF_SCOPE[scope]}:${scopeId}:${period}`;
}

/**
 * The field holding a counter's reached level, in micros: the spend up to which thresholds count
 * as reached (reserve-change.lua). Not "r:…", where an earlier version kept a percent.
 */
export function reachedLevelField(counterField: string): string {
  return `l${counterField.slice(1)}`;
}

function parseField(field: string): { scope: BudgetScope; scopeId: string | null; period: string } | null {
  const match = /^s:([akp]):(?:([0-9a-f-]{36}):)?(\d{4}-\d{2})$/.exec(field);
  if (!match) return null;
  const scope = SCOPE_OF_TAG[match[1]];
  if ((scope === 'account') !== (match[2] === undefined)) return null;
  return { scope, scopeId: match[2] ?? null, period: match[3] };
}

/** An alert record's entries, each split into its words. */
function entriesOf(record: string): string[][] {
  return record.split(';').map((entry) => entry.split(' '));
}

/** The "inc <field> <delta>" entries: what the change added to each budget counter. */
function increments(entries: string[][]): string[][] {
  return entries.filter((parts) => parts[0] === 'inc' && parts.length === 3);
}

/** The budget counters an alert record's change added to. */
export function countersInRecord(record: string): BudgetCounterRef[] {
  return increments(entriesOf(record)).flatMap(([, field]) => {
    const parsed = parseField(field);
    return parsed ? [{ field, scope: parsed.scope, scopeId: parsed.scopeId }] : [];
  });
}

/** The crossings in an alert record ("inc ...;bud <field> <percent> <spend>;low <balance>;disarm"). */
export function parseAlertRecord(record: string): RecordedCrossing[] {
  const crossings: RecordedCrossing[] = [];
  const entries = entriesOf(record);
  const applied = new Map(increments(entries).map(([, field, delta]) => [field, BigInt(delta)]));
  for (const parts of entries) {
    if (parts[0] === 'bud' && parts.length === 4) {
      const field = parseField(parts[1]);
      if (field)
        crossings.push({
          type: 'budget',
          field: parts[1],
          ...field,
          percent: Number(parts[2]),
          spendMicros: BigInt(parts[3]),
          appliedMicros: applied.get(parts[1]) ?? 0n,
        });
    } else if (parts[0] === 'low' && parts.length === 2) {
      crossings.push({ type: 'low_balance', balanceMicros: BigInt(parts[1]) });
    }
  }
  return crossings;
}
