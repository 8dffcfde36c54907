import { randomUUID } from 'node:crypto';
import { RenderInvoicePdfService, RenderOutcome, SellerDetails } from '@app/invoices';
import { BillingMetrics } from '@app/metrics';
import { ObjectStorage } from '@app/storage';
import { BillingStack } from '../support/billing-stack';
import { pdfText } from '../support/pdf-text';
import { chargeUsage, DAY, invoiceBilledWorkspace, monthOf, monthStart } from '../support/statement-usage';
import { rawDatabaseHandle } from '../support/test-stores';
import { waitFor } from '../support/wait-for';
import { Workspace } from '../support/workspace';
import { sha256 } from './invoice-pdf-helpers';

const MODEL = 'acme/render-race';
const seller: SellerDetails = {
  name: 'LLM Credit Billing',
  addressLines: ['548 Market Street', 'San Francisco, CA 94104'],
  email: 'billing@example.com',
  taxId: 'EIN 12-3456789',
};

/**
 * Two renders of one statement across its payment: render A read it open and is uploading when
 * the payment commits and render B (the re-render the payment queues) starts. Whatever the
 * interleaving, S3 must end up holding the PDF the invoice records, showing it paid. The renders
 * run in this process against the stack's Postgres and s3rver, with a storage that holds A's
 * upload until B has uploaded (or waits for A), and B's until A has recorded: the order in which
 * unserialised renders left the open PDF in S3 under the paid row's hash.
 */
describe('invoice renders overlapping a payment', () => {
  // No worker: the renders below are the only ones.
  const stack = new BillingStack({ workers: 0, s3: true });
  const lastMonth = monthStart(Date.now(), -1);

  beforeAll(() => stack.start(), 120_000);
  afterAll(() => stack.stop());

  async function openStatement(): Promise<{ ws: Workspace; invoiceId: string }> {
    const ws = await invoiceBilledWorkspace(stack, lastMonth);
    await chargeUsage(stack, stack.stores.sql, ws.accountId, MODEL, lastMonth + DAY, 2_340_000n);
    const run = await stack.admin.post('/v1/admin/invoice-statements/run', {
      month: monthOf(lastMonth),
      account_id: ws.accountId,
    });
    expect(run.status).toBe(200);
    expect(run.body.issued).toHaveLength(1);
    return { ws, invoiceId: run.body.issued[0].invoice_id };
  }

  /** A render of this suite's database waiting for another's advisory lock. */
  const renderWaitingOnLock = async () => {
    const [{ waiting }] = await stack.stores.sql<{ waiting: boolean }[]>`
      select exists (select 1 from pg_locks l join pg_database d on d.oid = l.database
                     where l.locktype = 'advisory' and not l.granted and d.datname = current_database()) as waiting`;
    return waiting;
  };

  it('leaves the paid PDF in S3 under the hash and status the invoice records', async () => {
    const { invoiceId } = await openStatement();
    const real = stack.s3!.storage;
    let puts = 0;
    let bUploaded = false;
    let aAtPut!: () => void;
    const aUploading = new Promise<void>((resolve) => (aAtPut = resolve));
    let aDone: Promise<RenderOutcome> | null = null;
    const storage = Object.assign(Object.create(real) as ObjectStorage, {
      put: async (...args: Parameters<ObjectStorage['put']>) => {
        if (++puts === 1) {
          aAtPut();
          await waitFor(
            async () => bUploaded || (await renderWaitingOnLock()),
            (go) => go,
            { what: 'render B to upload or to wait for render A' },
          );
          return real.put(...args);
        }
        const stored = await real.put(...args);
        bUploaded = true;
        await aDone;
        return stored;
      },
    });
    const sut = new RenderInvoicePdfService(
      rawDatabaseHandle(stack.stores.sql),
      storage,
      new BillingMetrics('test'),
      seller,
    );

    aDone = sut.render(invoiceId, true);
    await aUploading;
    // The payment commits while A holds its render: it does not wait for the upload.
    const paid = await stack.admin.post(
      `/v1/admin/invoices/${invoiceId}/payments`,
      { reference: 'WIRE-RACE' },
      { 'idempotency-key': randomUUID() },
    );
    expect({ status: paid.status, invoiceStatus: paid.body.status }).toEqual({
      status: 200,
      invoiceStatus: 'paid',
    });
    const bDone = sut.render(invoiceId, true);
    await Promise.all([aDone, bDone]);

    const [row] = await stack.stores.sql<
      { status: string; pdf_status: string; pdf_key: string; pdf_sha256: string }[]
    >`select status, pdf_status, pdf_key, pdf_sha256 from invoices where id = ${invoiceId}`;
    expect(row).toMatchObject({ status: 'paid', pdf_status: 'paid' });
    const stored = await real.getBuffer(row.pdf_key);
    expect(sha256(stored)).toBe(row.pdf_sha256);
    const text = (await pdfText(stored)).text;
    expect(text).toContain('Paid in full on');
    expect(text).not.toContain('Please pay');
  });
});
