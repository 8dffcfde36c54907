import { budgetCounterField, countersInRecord, parseAlertRecord, reachedLevelField } from './alert-record';
import { lowBalanceRearmMicros } from './low-balance';

const KEY = '0b6f3c2e-1d4a-4e8b-9c7d-2a1b3c4d5e6f';

describe('alert records', () => {
  it('names counters by scope and UTC month', () => {
    expect(budgetCounterField('account', null, '2026-11')).toBe('s:a:2026-11');
    expect(budgetCounterField('api_key', KEY, '2026-11')).toBe(`s:k:${KEY}:2026-11`);
    expect(budgetCounterField('project', KEY, '2026-12')).toBe(`s:p:${KEY}:2026-12`);
  });

  it('keeps reached levels under "l:", not under the percent levels of the earlier "r:" fields', () => {
    expect(reachedLevelField('s:a:2026-11')).toBe('l:a:2026-11');
    expect(reachedLevelField(`s:k:${KEY}:2026-11`)).toBe(`l:k:${KEY}:2026-11`);
  });

  it('reads budget and low-balance crossings and ignores bookkeeping entries', () => {
    const sut = parseAlertRecord(
      `inc s:a:2026-11 500;bud s:a:2026-11 50 5000000;level s:a:2026-11 0;bud s:k:${KEY}:2026-11 75 750;low -120;disarm`,
    );
    expect(sut).toEqual([
      {
        type: 'budget',
        field: 's:a:2026-11',
        scope: 'account',
        scopeId: null,
        period: '2026-11',
        percent: 50,
        spendMicros: 5_000_000n,
        appliedMicros: 500n,
      },
      {
        type: 'budget',
        field: `s:k:${KEY}:2026-11`,
        scope: 'api_key',
        scopeId: KEY,
        period: '2026-11',
        percent: 75,
        spendMicros: 750n,
        appliedMicros: 0n,
      },
      { type: 'low_balance', balanceMicros: -120n },
    ]);
  });
});

describe('low-balance re-arm level', () => {
  it('adds $1 to lines up to $10', () => {
    expect(lowBalanceRearmMicros(5_000_000n)).toBe(6_000_000n);
    expect(lowBalanceRearmMicros(10_000_000n)).toBe(11_000_000n);
    expect(lowBalanceRearmMicros(0n)).toBe(1_000_000n);
  });

  it('adds 10 % to larger lines, rounded down to a micro', () => {
    expect(lowBalanceRearmMicros(250_000_000n)).toBe(275_000_000n);
    expect(lowBalanceRearmMicros(10_000_005n)).toBe(11_000_005n);
    expect(lowBalanceRearmMicros(10_000_019n)).toBe(11_000_020n);
  });

  it('lists the budget counters a change added to', () => {
    expect(
      countersInRecord(`inc s:a:2026-11 500;inc s:p:${KEY}:2026-11 20;bud s:a:2026-11 50 5000000;low 3`),
    ).toEqual([
      { field: 's:a:2026-11', scope: 'account', scopeId: null },
      { field: `s:p:${KEY}:2026-11`, scope: 'project', scopeId: KEY },
    ]);
  });
});
