import { BudgetScope } from '../spend.repository';

/** One entry of reserve-change.lua's alert record that raises an alert. */
export type RecordedCrossing =
  | {
      type: 'budget';
      scope: BudgetScope;
      scopeId: string | null;
      period: string;
      percent: number;
      spendMicros: bigint;
    }
  | { type: 'low_balance'; balanceMicros: bigint };

const SCOPE_OF_TAG: Record<string, BudgetScope> = { a: 'account', k: 'api_key', p: 'project' };
const TAG_OF_SCOPE: Record<BudgetScope, string> = { account: 'a', api_key: 'k', project: 'p' };

/** The balance-hash field of a budget counter: "s:a:<YYYY-MM>", "s:k:<key id>:<YYYY-MM>", "s:p:<project id>:<YYYY-MM>". */
export function budgetCounterField(scope: BudgetScope, scopeId: string | null, period: string): string {
  return scope === 'account' ? `s:a:${period}` : `s:${TAG_OF_SCOPE[scope]}:${scopeId}:${period}`;
}

function parseField(field: string): { scope: BudgetScope; scopeId: string | null; period: string } | null {
  const match = /^s:([akp]):(?:([0-9a-f-]{36}):)?(\d{4}-\d{2})$/.exec(field);
  if (!match) return null;
  const scope = SCOPE_OF_TAG[match[1]];
  if ((scope === 'account') !== (match[2] === undefined)) return null;
  return { scope, scopeId: match[2] ?? null, period: match[3] };
}

/** The crossings in an alert record ("inc ...;bud <field> <percent> <spend>;low <balance>;disarm"). */
export function parseAlertRecord(record: string): RecordedCrossing[] {
  const crossings: RecordedCrossing[] = [];
  for (const entry of record.split(';')) {
    const parts = entry.split(' ');
    if (parts[0] === 'bud' && parts.length === 4) {
      const field = parseField(parts[1]);
      if (field)
        crossings.push({
          type: 'budget',
          ...field,
          percent: Number(parts[2]),
          spendMicros: BigInt(parts[3]),
        });
    } else if (parts[0] === 'low' && parts.length === 2) {
      crossings.push({ type: 'low_balance', balanceMicros: BigInt(parts[1]) });
    }
  }
  return crossings;
}
