import { writeFileSync } from 'node:fs';
import { BillingStack } from '../support/billing-stack';
import { saveCard } from '../support/cards';
import { pdfText } from '../support/pdf-text';
import { waitFor } from '../support/wait-for';
import { Workspace } from '../support/workspace';
import {
  ACME_PROFILE,
  buyAndGetInvoice,
  recordedPdf,
  setBillingProfile,
  sha256,
} from './invoice-pdf-helpers';

/** Short, so the expiry is seen within the test; the default is 300 s. */
const LINK_TTL_SECONDS = 3;

/**
 * Judged c: a real card purchase's invoice is rendered by the worker into S3 (s3rver), with its
 * SHA-256 recorded; its text shows what the customer needs; the download link serves the very
 * bytes and stops working once it expires.
 */
describe('invoice PDFs', () => {
  const stack = new BillingStack({
    workers: 1,
    stripe: true,
    s3: true,
    env: { INVOICE_URL_TTL_SECONDS: String(LINK_TTL_SECONDS) },
    workerEnv: { INVOICE_SELLER_TAX_ID: 'EIN 12-3456789' },
  });
  let ws: Workspace;
  let invoice: any;

  const pdfLink = (invoiceId: string) => stack.admin.get(`${ws.path}/invoices/${invoiceId}/pdf`);

  beforeAll(async () => {
    await stack.start();
    ws = await Workspace.create(stack);
    await setBillingProfile(stack, ws);
    await saveCard(stack, ws);
    invoice = await buyAndGetInvoice(stack, ws, '500.00');
    if (process.env.INVOICE_EXAMPLE_OUT) {
      // Used once to make docs/invoice-example.png from this very invoice.
      await waitFor(
        () => pdfLink(invoice.id),
        (response) => response.status === 200,
        { what: 'the PDF' },
      );
      const key = (await recordedPdf(stack, invoice.id)).pdf_key!;
      writeFileSync(process.env.INVOICE_EXAMPLE_OUT, await stack.s3!.storage.getBuffer(key));
    }
  });

  afterAll(() => stack.stop());

  it('is stored in S3 under a key fixed by the invoice, with the SHA-256 recorded on the invoice', async () => {
    await waitFor(
      () => recordedPdf(stack, invoice.id),
      (row) => row.pdf_sha256 !== null,
      {
        what: 'the worker to record the PDF',
      },
    );
    const recorded = await recordedPdf(stack, invoice.id);
    expect(recorded.pdf_key).toBe(`invoices/${ws.accountId}/${invoice.number}.pdf`);
    const stored = await stack.s3!.storage.getBuffer(recorded.pdf_key!);
    expect(stored.subarray(0, 5).toString()).toBe('%PDF-');
    expect(sha256(stored)).toBe(recorded.pdf_sha256);
    expect((await stack.s3!.storage.head(recorded.pdf_key!))?.sha256).toBe(recorded.pdf_sha256);
    expect(await stack.s3!.keys(`invoices/${ws.accountId}/`)).toEqual([recorded.pdf_key]);
    // The invoice API says so too.
    expect((await stack.admin.get(`${ws.path}/invoices/${invoice.id}`)).body.pdf).toEqual({
      ready: true,
      sha256: recorded.pdf_sha256,
    });
  });

  it('shows number, dates, bill-to, amounts, tax and the card as printed text', async () => {
    const recorded = await waitFor(
      () => recordedPdf(stack, invoice.id),
      (row) => row.pdf_key !== null,
    );
    const { text, pages } = await pdfText(await stack.s3!.storage.getBuffer(recorded.pdf_key!));
    expect(pages).toBe(1);
    const issued = new Date(invoice.issued_at);
    const month = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][
      issued.getUTCMonth()
    ];
    const money = (usd: string) =>
      `$${Number(usd.split('.')[0]).toLocaleString('en-US')}.${usd.split('.')[1].slice(0, 2)}`;
    expect(invoice.tax).toMatchObject({ jurisdiction: 'US-CA', exempt: false });
    for (const expected of [
      invoice.number,
      `Issue date`,
      `${month} ${issued.getUTCDate()}, ${issued.getUTCFullYear()}`,
      'Transaction date',
      'Acme Robotics, Inc.',
      '1 Infinite Loop',
      'Cupertino, CA 95014',
      'United States',
      'Tax ID: EIN 12-3456789', // the seller's
      'Tax ID: US 98-7654321',
      'PO-7781',
      'Project Falcon',
      `Subtotal`,
      money(invoice.subtotal),
      `Tax (US-CA ${invoice.tax.rate_percent}%)`,
      money(invoice.tax.amount),
      'Total (USD)',
      money(invoice.total),
      'Visa •••• 4242',
      'PAID',
    ]) {
      expect(text).toContain(expected);
    }
    expect(invoice.subtotal).toBe('500.000000');
  });

  it('prints a bill-to in Polish, Russian, Turkish, Greek and Hebrew as entered, the rest intact', async () => {
    const intl = await Workspace.create(stack);
    await setBillingProfile(stack, intl, {
      ...ACME_PROFILE,
      legal_name: 'Łódź Spółka z o.o.',
      address_line1: 'ООО Ромашка',
      address_line2: 'חברת הדוגמה בע"מ',
      city: 'İstanbul',
      region: '',
      postal_code: '34000',
      country: 'TR',
      tax_id: 'Ελλάδα 094014249',
    });
    await saveCard(stack, intl);
    const issued = await buyAndGetInvoice(stack, intl, '25.00');
    const recorded = await waitFor(
      () => recordedPdf(stack, issued.id),
      (row) => row.pdf_sha256 !== null,
      { what: 'the worker to record the PDF' },
    );
    const stored = await stack.s3!.storage.getBuffer(recorded.pdf_key!);
    const { text } = await pdfText(stored);
    for (const expected of [
      'Łódź Spółka z o.o.',
      'ООО Ромашка',
      'חברת הדוגמה בע"מ',
      'İstanbul, 34000',
      'Tax ID: Ελλάδα 094014249',
      issued.number,
      'Tax ID: EIN 12-3456789',
      'PO-7781',
      'Project Falcon',
      '$25.00',
      'Total (USD)',
      'Visa •••• 4242',
      'PAID',
    ]) {
      expect(text).toContain(expected);
    }
  });

  it('downloads the same bytes through a short-lived link that then expires', async () => {
    await waitFor(
      () => recordedPdf(stack, invoice.id),
      (row) => row.pdf_key !== null,
    );
    const before = Date.now();
    const link = await pdfLink(invoice.id);
    expect(link.status).toBe(200);
    const expiresAt = Date.parse(link.body.expires_at);
    expect(expiresAt).toBeGreaterThanOrEqual(before + LINK_TTL_SECONDS * 1000 - 1000);
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + LINK_TTL_SECONDS * 1000 + 1000);

    const download = await fetch(link.body.url);
    expect(download.status).toBe(200);
    expect(download.headers.get('content-disposition')).toBe(`attachment; filename="${invoice.number}.pdf"`);
    const bytes = Buffer.from(await download.arrayBuffer());
    expect(sha256(bytes)).toBe((await recordedPdf(stack, invoice.id)).pdf_sha256);

    await waitFor(
      async () => (await fetch(link.body.url)).status,
      (status) => status === 403,
      { timeoutMs: (LINK_TTL_SECONDS + 5) * 1000, intervalMs: 250, what: 'the link to expire' },
    );
    expect(Date.now()).toBeGreaterThanOrEqual(expiresAt - 1000);
  });

  it('answers 409 invoice_not_rendered while the worker has not rendered it, then the link', async () => {
    const worker = stack.workers[0];
    await worker.stop();
    const pending = await buyAndGetInvoice(stack, ws, '20.00');
    const early = await pdfLink(pending.id);
    expect({ status: early.status, code: early.body?.error?.code }).toEqual({
      status: 409,
      code: 'invoice_not_rendered',
    });
    expect(pending.pdf).toEqual({ ready: false, sha256: null });

    await worker.start();
    const ready = await waitFor(
      () => pdfLink(pending.id),
      (response) => response.status === 200,
      {
        what: 'the PDF after the worker is back',
      },
    );
    expect((await fetch(ready.body.url)).status).toBe(200);
  });

  it("answers 404 invoice_not_found for an unknown invoice or another account's", async () => {
    const other = await Workspace.create(stack);
    for (const response of [
      await stack.admin.get(`${ws.path}/invoices/00000000-0000-4000-8000-000000000000/pdf`),
      await stack.admin.get(`${other.path}/invoices/${invoice.id}/pdf`),
      await stack.admin.get(`${ws.path}/invoices/not-a-uuid/pdf`),
    ]) {
      expect({ status: response.status, code: response.body?.error?.code }).toEqual({
        status: 404,
        code: 'invoice_not_found',
      });
    }
  });

  it('counts render latency in the worker metrics', async () => {
    const metrics = await (await fetch(`${stack.workers[0].url}/metrics`)).text();
    expect(metrics).toMatch(/billing_invoice_render_duration_seconds_count\{[^}]*\} [1-9]/);
    expect(metrics).toContain('billing_invoice_render_failures_total');
  });
});
