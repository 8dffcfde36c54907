import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { InvoiceDocument, renderInvoicePdf, SellerDetails } from '@app/invoices';
import { pdfText } from '../support/pdf-text';

const seller: SellerDetails = {
  name: 'LLM Credit Billing',
  addressLines: ['548 Market Street', 'San Francisco, CA 94104', 'United States'],
  email: 'billing@example.com',
  taxId: 'EIN 12-3456789',
};

function invoice(overrides: Partial<InvoiceDocument> = {}): InvoiceDocument {
  return {
    id: '6a0f4f57-3a8e-4d3c-9b58-0d6f3c6c8f10',
    accountId: '0b5a1a61-2f7d-4d58-8c3e-5f3c1b0f9e21',
    number: 'INV-2026-000042',
    kind: 'purchase',
    status: 'paid',
    currency: 'usd',
    issuedAt: new Date('2026-11-27T10:15:00Z'),
    transactionAt: new Date('2026-11-27T10:14:58Z'),
    dueDate: null,
    periodStart: null,
    periodEnd: null,
    subtotalMicros: 500_000_000n,
    discountMicros: 0n,
    taxMicros: 36_250_000n,
    totalMicros: 536_250_000n,
    taxJurisdiction: 'US-CA',
    taxRatePpm: 72_500,
    taxExempt: false,
    billTo: {
      name: 'Acme Robotics, Inc.',
      email: 'ap@acme.example',
      address_line1: '1 Infinite Loop',
      address_line2: 'Building 4',
      city: 'Cupertino',
      region: 'CA',
      postal_code: '95014',
      country: 'US',
      tax_id: 'US 98-7654321',
    },
    cardBrand: 'visa',
    cardLast4: '4242',
    purchaseOrderNumber: 'PO-7781',
    billingReference: 'Project Falcon',
    paidAt: new Date('2026-11-27T10:14:58Z'),
    lines: [{ description: 'Prepaid API credits', model: null, quantity: 1n, amountMicros: 500_000_000n }],
    ...overrides,
  };
}

async function textOf(pdf: Buffer): Promise<string> {
  return (await pdfText(pdf)).text;
}

describe('renderInvoicePdf', () => {
  it('gives the same bytes for the same invoice', async () => {
    const [first, second] = await Promise.all([
      renderInvoicePdf(invoice(), seller),
      renderInvoicePdf(invoice(), seller),
    ]);
    expect(createHash('sha256').update(first).digest('hex')).toBe(
      createHash('sha256').update(second).digest('hex'),
    );
    if (process.env.INVOICE_SAMPLE_OUT) writeFileSync(process.env.INVOICE_SAMPLE_OUT, first);
  });

  it('prints number, dates, bill-to, amounts, tax and payment method', async () => {
    const text = await textOf(await renderInvoicePdf(invoice(), seller));
    for (const expected of [
      'INV-2026-000042',
      'Nov 27, 2026',
      'Acme Robotics, Inc.',
      'Cupertino, CA 95014',
      '$500.00',
      'Tax (US-CA 7.25%)',
      '$36.25',
      '$536.25',
      'Visa •••• 4242',
      'PO-7781',
      'PAID',
    ]) {
      expect(text).toContain(expected);
    }
  });

  it('shows an exemption, a discount, net terms and a service period when the invoice has them', async () => {
    const text = await textOf(
      await renderInvoicePdf(
        invoice({
          kind: 'usage_statement',
          status: 'open',
          dueDate: '2026-12-31',
          periodStart: '2026-11-01',
          periodEnd: '2026-11-30',
          taxExempt: true,
          taxJurisdiction: null,
          taxRatePpm: 0,
          taxMicros: 0n,
          discountMicros: 50_000_000n,
          totalMicros: 450_000_000n,
          cardBrand: null,
          cardLast4: null,
          lines: [
            {
              description: 'gpt-4o usage',
              model: 'gpt-4o',
              quantity: 12_345_678n,
              amountMicros: 300_000_000n,
            },
            {
              description: 'claude-sonnet usage',
              model: 'claude-sonnet',
              quantity: 999n,
              amountMicros: 200_000_000n,
            },
          ],
        }),
        seller,
      ),
    );
    for (const expected of [
      'Tax exempt',
      '-$50.00',
      '$450.00',
      'Dec 31, 2026',
      'Nov 1, 2026',
      '12,345,678 tokens',
      'OPEN',
    ]) {
      expect(text).toContain(expected);
    }
    expect(text).not.toContain('••••');
  });

  it('keeps a line break in a field, and prints a tab as a space rather than garbling the line', async () => {
    const text = await textOf(
      await renderInvoicePdf(
        invoice({
          purchaseOrderNumber: 'PO\t7781 / 2026',
          billingReference: 'Dept. 7, "Research"\r\nFloor 2',
        }),
        seller,
      ),
    );
    expect(text).toContain('PO 7781 / 2026');
    expect(text).toMatch(/Dept\. 7, "Research"\s*\nFloor 2/);
  });

  describe('with a bill-to outside WinAnsi', () => {
    const international = () =>
      invoice({
        billTo: {
          name: 'Łódź Spółka z o.o.',
          email: 'faktury@lodz.example',
          address_line1: 'ООО Ромашка',
          address_line2: 'חברת הדוגמה בע"מ',
          city: 'İstanbul',
          region: null,
          postal_code: '34000',
          country: 'TR',
          tax_id: 'Ελλάδα 094014249',
        },
        purchaseOrderNumber: 'Zamówienie 7781',
        billingReference: 'Žluťoučký kůň',
      });

    it('prints each field as given, and the rest of the invoice intact', async () => {
      const text = await textOf(await renderInvoicePdf(international(), seller));
      for (const expected of [
        'Łódź Spółka z o.o.',
        'ООО Ромашка',
        'חברת הדוגמה בע"מ',
        'İstanbul, 34000',
        'Tax ID: Ελλάδα 094014249',
        'Zamówienie 7781',
        'Žluťoučký kůň',
        // Everything around them, in the standard font:
        'INV-2026-000042',
        'Nov 27, 2026',
        'faktury@lodz.example',
        'Tax (US-CA 7.25%)',
        '$36.25',
        '$536.25',
        'Visa •••• 4242',
        'PAID',
        'Paid in full on Nov 27, 2026 by Visa •••• 4242.',
        'Page 1 of 1',
      ]) {
        expect(text).toContain(expected);
      }
    });

    it('gives the same bytes for the same invoice', async () => {
      const [first, second] = await Promise.all([
        renderInvoicePdf(international(), seller),
        renderInvoicePdf(international(), seller),
      ]);
      expect(createHash('sha256').update(first).digest('hex')).toBe(
        createHash('sha256').update(second).digest('hex'),
      );
      if (process.env.INVOICE_SAMPLE_OUT)
        writeFileSync(`${process.env.INVOICE_SAMPLE_OUT}.unicode.pdf`, first);
    });

    it('prints a replacement character for what the embedded font lacks, and nothing else changes', async () => {
      const text = await textOf(
        await renderInvoicePdf(
          invoice({
            billTo: { ...invoice().billTo, name: '株式会社 Example 東京' },
            lines: [
              { description: 'Credits 🚀 for Łódź', model: null, quantity: 1n, amountMicros: 500_000_000n },
            ],
          }),
          seller,
        ),
      );
      expect(text).toContain('\ufffd\ufffd\ufffd\ufffd Example \ufffd\ufffd');
      expect(text).toContain('Credits \ufffd for Łódź');
      for (const expected of ['INV-2026-000042', 'Cupertino, CA 95014', '$500.00', '$536.25', 'PAID']) {
        expect(text).toContain(expected);
      }
    });
  });

  it('continues a long line table on a second page', async () => {
    const lines = Array.from({ length: 60 }, (_, i) => ({
      description: `model-${i} usage`,
      model: `model-${i}`,
      quantity: 1000n,
      amountMicros: 10_000n,
    }));
    const pdf = await renderInvoicePdf(invoice({ lines }), seller);
    const { text, pages } = await pdfText(pdf);
    expect(pages).toBeGreaterThan(1);
    expect(text).toContain(`Page ${pages} of ${pages}`);
    if (process.env.INVOICE_SAMPLE_OUT) writeFileSync(`${process.env.INVOICE_SAMPLE_OUT}.long.pdf`, pdf);
    expect(text).toContain('model-59 usage');
  });
});
