import { InvoiceDraft } from './invoice-draft';
import { Tx } from '@app/db';
import { invoiceTotals, takeInvoiceNumber } from './invoice-issuer.service';
import { formatInvoiceNumber } from './invoice-number';

function draft(overrides: Partial<InvoiceDraft> = {}): InvoiceDraft {
  return {
    accountId: '00000000-0000-0000-0000-000000000001',
    kind: 'purchase',
    status: 'paid',
    transactionAt: new Date('2026-03-01T00:00:00Z'),
    lines: [{ description: 'Prepaid credits', quantity: 1n, amountMicros: 12_340_000n }],
    tax: { jurisdiction: 'US-CA', ratePpm: 72_500, exempt: false, amountMicros: 890_000n },
    ...overrides,
  };
}

describe('invoice numbers', () => {
  it('are INV-<year>-<six digits>', () => {
    expect(formatInvoiceNumber(2026, 42)).toBe('INV-2026-000042');
    expect(formatInvoiceNumber(2027, 1)).toBe('INV-2027-000001');
  });

  it('keep growing past six digits instead of wrapping', () => {
    expect(formatInvoiceNumber(2026, 1_000_000)).toBe('INV-2026-1000000');
  });
});

describe('invoiceTotals', () => {
  it('adds the lines, takes the discount off and the tax on', () => {
    const sut = invoiceTotals(
      draft({
        lines: [
          { description: 'a', quantity: 10n, amountMicros: 1_000_000n },
          { description: 'b', quantity: 20n, amountMicros: 2_500_000n },
        ],
        discountMicros: 350_000n,
      }),
    );
    expect(sut).toEqual({
      subtotal: 3_500_000n,
      discount: 350_000n,
      total: 3_500_000n - 350_000n + 890_000n,
    });
  });

  it('refuses amounts that are not whole cents', () => {
    expect(() =>
      invoiceTotals(draft({ lines: [{ description: 'a', quantity: 1n, amountMicros: 1_000_001n }] })),
    ).toThrow(/whole cents/);
    expect(() =>
      invoiceTotals(draft({ tax: { jurisdiction: null, ratePpm: 0, exempt: false, amountMicros: 5n } })),
    ).toThrow(/whole cents/);
  });

  it('refuses an invoice without lines and a negative discount', () => {
    expect(() => invoiceTotals(draft({ lines: [] }))).toThrow(/at least one line/);
    expect(() => invoiceTotals(draft({ discountMicros: -10_000n }))).toThrow(/negative/);
  });
});

describe('takeInvoiceNumber', () => {
  /** A transaction that answers each statement with the next of `answers` and records the statements. */
  function fakeTx(answers: unknown[][]) {
    const statements: { text: string; values: unknown[] }[] = [];
    const tx = (strings: TemplateStringsArray, ...values: unknown[]) => {
      statements.push({ text: strings.join('$').replace(/\s+/g, ' ').trim(), values });
      return Promise.resolve(answers.shift() ?? []);
    };
    return { tx: tx as unknown as Tx, statements };
  }

  it('returns the number with the time read under the lock', async () => {
    const { tx, statements } = fakeTx([
      [{ year: 2026, sequence: 42, issued_at: '2026-11-27 10:15:00.123456+00', issued_year: 2026 }],
    ]);
    await expect(takeInvoiceNumber(tx)).resolves.toEqual({
      year: 2026,
      sequence: 42,
      issuedAt: '2026-11-27 10:15:00.123456+00',
    });
    expect(statements).toHaveLength(1);
    expect(statements[0].text).toContain('returning year, last_number, clock_timestamp() as issued_at');
  });

  it('gives back a number of the old year when the lock came after midnight, and takes one in the new', async () => {
    const { tx, statements } = fakeTx([
      [{ year: 2026, sequence: 900, issued_at: '2027-01-01 00:00:00.002+00', issued_year: 2027 }],
      [],
      [{ year: 2027, sequence: 1, issued_at: '2027-01-01 00:00:00.003+00', issued_year: 2027 }],
    ]);
    await expect(takeInvoiceNumber(tx)).resolves.toEqual({
      year: 2027,
      sequence: 1,
      issuedAt: '2027-01-01 00:00:00.003+00',
    });
    expect(statements.map((statement) => statement.text.split(' ')[0])).toEqual(['with', 'update', 'with']);
    expect(statements[1]).toEqual({
      text: 'update invoice_sequences set last_number = last_number - 1 where year = $',
      values: [2026],
    });
  });
});
