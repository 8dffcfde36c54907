import { addDays, previousMonth, statementPeriod } from './statement-period';

describe('statementPeriod', () => {
  it('spans the calendar month in UTC', () => {
    expect(statementPeriod('2026-02')).toEqual({
      month: '2026-02',
      start: new Date('2026-02-01T00:00:00.000Z'),
      end: new Date('2026-03-01T00:00:00.000Z'),
      firstDay: '2026-02-01',
      lastDay: '2026-02-28',
    });
  });

  it('rolls over the year in December', () => {
    expect(statementPeriod('2026-12')?.end).toEqual(new Date('2027-01-01T00:00:00.000Z'));
  });

  it.each(['2026-13', '2026-1', '26-10', '2026-10-01', ''])('refuses %j', (month) =>
    expect(statementPeriod(month)).toBeNull(),
  );
});

describe('previousMonth', () => {
  it('is the month before, also across a year', () => {
    expect(previousMonth(new Date('2026-11-01T00:30:00Z')).month).toBe('2026-10');
    expect(previousMonth(new Date('2027-01-15T12:00:00Z')).month).toBe('2026-12');
  });
});

describe('addDays', () => {
  it('counts net terms from the UTC issue day', () => {
    expect(addDays(new Date('2026-11-01T23:59:00Z'), 30)).toBe('2026-12-01');
    expect(addDays(new Date('2026-12-20T00:00:00Z'), 15)).toBe('2027-01-04');
  });
});
