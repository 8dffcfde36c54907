import { parseUsd } from '@app/money';
import { createHash, randomUUID } from 'node:crypto';
import Stripe from 'stripe';
import { JsonResponse } from '../support/api-client';
import { BillingStack } from '../support/billing-stack';
import { authenticate, saveCard } from '../support/cards';
import { TEST_ADMIN_TOKEN } from '../support/test-stores';
import { waitFor } from '../support/wait-for';
import { Workspace } from '../support/workspace';

const MODEL = 'test/tax-model';
/** $1000 per million tokens: 1000 tokens cost $1. */
const TOKENS_PER_USD = 1000;
const MAX_DOCUMENT_BYTES = 64 * 1024;

/**
 * Sales tax on purchases (issue 5, item 3; judged b): computed from the billing address when the
 * purchase is opened, charged on top of the credits (the card pays amount + tax, the balance gains
 * the amount), rounded once to the cent half up, copied by the invoice; an approved exemption
 * exempts later purchases only; other countries at their configured rate; refunds return the
 * credits' share of the tax.
 */
describe('tax on purchases', () => {
  const stack = new BillingStack({
    workers: 1,
    stripe: true,
    s3: true,
    // GB is 20 in data/tax/countries.json: the setting overrides the file.
    env: { TAX_COUNTRY_RATES: 'GB:17.5', TAX_EXEMPTION_MAX_BYTES: String(MAX_DOCUMENT_BYTES) },
  });
  let stripe: Stripe;

  function expectError(response: JsonResponse, status: number, code: string): void {
    expect({ status: response.status, code: response.body?.error?.code }).toEqual({ status, code });
  }

  /** A workspace with a card, billed to `address` (none when null). */
  async function customer(address: Record<string, string> | null): Promise<Workspace> {
    const ws = await Workspace.create(stack);
    if (address) {
      const saved = await stack.admin.put(`${ws.path}/billing-profile`, {
        legal_name: 'Taxed Inc.',
        ...address,
      });
      expect(saved.status).toBe(200);
    }
    await saveCard(stack, ws);
    return ws;
  }

  async function buy(ws: Workspace, amount: string): Promise<any> {
    const response = await stack.admin.post(
      `${ws.path}/purchases`,
      { amount },
      { 'idempotency-key': randomUUID() },
    );
    expect({ status: response.status, body: response.body }).toMatchObject({
      status: 201,
      body: { status: 'succeeded' },
    });
    return response.body;
  }

  async function balanceOf(ws: Workspace): Promise<string> {
    const response = await stack.gateway.get(`${ws.path}/balance`);
    expect(response.status).toBe(200);
    return response.body.balance;
  }

  /** What the card was charged, in USD, as Stripe has it. */
  async function charged(paymentIntentId: string): Promise<string> {
    const intent = await stripe.paymentIntents.retrieve(paymentIntentId);
    expect(intent.status).toBe('succeeded');
    expect(intent.amount_received).toBe(intent.amount);
    return (intent.amount / 100).toFixed(2);
  }

  async function invoiceOf(purchaseId: string) {
    const [row] = await stack.stores.sql<
      {
        subtotal_micros: bigint;
        tax_micros: bigint;
        total_micros: bigint;
        tax_jurisdiction: string | null;
        tax_rate_ppm: number;
        tax_exempt: boolean;
      }[]
    >`
      select subtotal_micros, tax_micros, total_micros, tax_jurisdiction, tax_rate_ppm, tax_exempt from invoices where purchase_id = ${purchaseId}`;
    return row;
  }

  function pdf(label: string): Buffer {
    return Buffer.from(`%PDF-1.4\n% resale certificate ${label}\n%%EOF\n`);
  }

  async function upload(
    ws: Workspace,
    bytes: Buffer,
    fileName = 'certificate.pdf',
    type = 'application/pdf',
  ) {
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(bytes)], { type }), fileName);
    const response = await fetch(`${stack.api.url}${ws.path}/tax-exemptions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
      body: form,
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined } as JsonResponse;
  }

  interface RawPart {
    /** After "form-data; " in the part's Content-Disposition. */
    disposition: string;
    type?: string;
    body: Buffer | string;
  }

  /** An upload whose multipart body is written byte by byte, e.g. with U+0000 in a file name or a JSON part. */
  async function uploadRaw(ws: Workspace, parts: RawPart[]) {
    const boundary = `----tax-test-${randomUUID()}`;
    const body = Buffer.concat([
      ...parts.flatMap((part) => [
        Buffer.from(
          `--${boundary}\r\nContent-Disposition: form-data; ${part.disposition}\r\n` +
            (part.type ? `Content-Type: ${part.type}\r\n` : '') +
            '\r\n',
        ),
        Buffer.from(part.body),
        Buffer.from('\r\n'),
      ]),
      Buffer.from(`--${boundary}--\r\n`),
    ]);
    const response = await fetch(`${stack.api.url}${ws.path}/tax-exemptions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${TEST_ADMIN_TOKEN}`,
        'content-type': `multipart/form-data; boundary=${boundary}`,
      },
      body,
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined } as JsonResponse;
  }

  async function review(exemptionId: string, decision: 'approve' | 'reject', note?: string) {
    return stack.admin.post(`/v1/admin/tax-exemptions/${exemptionId}/${decision}`, note ? { note } : {});
  }

  beforeAll(async () => {
    await stack.start();
    stripe = stack.stripeClient();
    await stack.setPrice(MODEL, '1000', '1000');
  });

  afterAll(() => stack.stop());

  describe('U.S. states', () => {
    it.each([
      ['CA', '100.00', '7.25', '7.25', '107.25'],
      ['NY', '100.00', '4', '4.00', '104.00'],
      ['TX', '40.00', '6.25', '2.50', '42.50'],
      ['OR', '100.00', '0', '0.00', '100.00'],
    ])(
      '%s: $%s is charged with %s %% tax ($%s), total $%s, and credits exactly the amount',
      async (state, amount, rate, tax, total) => {
        const ws = await customer({ country: 'US', region: state, postal_code: '00000' });

        const sut = await buy(ws, amount);

        expect(sut).toMatchObject({
          amount: parseFixed(amount),
          tax: { amount: parseFixed(tax), jurisdiction: `US-${state}`, rate, exempt: false },
          total: parseFixed(total),
          balance: parseFixed(amount),
        });
        expect(await charged(sut.payment_intent_id)).toBe(total);
        expect(await balanceOf(ws)).toBe(parseFixed(amount));
        // The invoice copies the purchase's tax.
        expect(await invoiceOf(sut.id)).toMatchObject({
          subtotal_micros: parseUsd(amount),
          tax_micros: parseUsd(tax),
          total_micros: parseUsd(total),
          tax_jurisdiction: `US-${state}`,
          tax_exempt: false,
        });
      },
    );

    it('does not tax an account without a billing address', async () => {
      const ws = await customer(null);

      const sut = await buy(ws, '25.00');

      expect(sut).toMatchObject({
        tax: { amount: '0.000000', jurisdiction: null, exempt: false },
        total: '25.000000',
      });
      expect(await charged(sut.payment_intent_id)).toBe('25.00');
    });

    it('lists and reads purchases with amount, tax and total', async () => {
      const ws = await customer({ country: 'US', region: 'CA' });
      const bought = await buy(ws, '20.00');

      const one = await stack.admin.get(`${ws.path}/purchases/${bought.id}`);
      const list = await stack.admin.get(`${ws.path}/purchases`);

      const expected = {
        amount: '20.000000',
        tax: { amount: '1.450000', jurisdiction: 'US-CA', rate: '7.25' },
        total: '21.450000',
      };
      expect(one.body).toMatchObject(expected);
      expect(list.body.purchases[0]).toMatchObject(expected);
    });
  });

  describe('rounding, once per purchase, to the cent', () => {
    it('rounds exactly half a cent up: $10.00 at 6.25 % is $0.625 -> $0.63', async () => {
      const ws = await customer({ country: 'US', region: 'TX' });

      const sut = await buy(ws, '10.00');

      expect(sut).toMatchObject({ tax: { amount: '0.630000' }, total: '10.630000', balance: '10.000000' });
      expect(await charged(sut.payment_intent_id)).toBe('10.63');
    });

    it('rounds just below half a cent down: $9.99 at 6.25 % is $0.624375 -> $0.62', async () => {
      const ws = await customer({ country: 'US', region: 'TX' });
      await stack.grant(ws.accountId, '0.01');

      const sut = await buy(ws, '9.99');

      expect(sut).toMatchObject({ tax: { amount: '0.620000' }, total: '10.610000', balance: '10.000000' });
      expect(await charged(sut.payment_intent_id)).toBe('10.61');
    });
  });

  describe('other countries', () => {
    it('taxes Germany at the rate of the rate file (19 %)', async () => {
      const ws = await customer({ country: 'DE', city: 'Berlin' });

      const sut = await buy(ws, '50.00');

      expect(sut).toMatchObject({
        tax: { amount: '9.500000', jurisdiction: 'DE', rate: '19' },
        total: '59.500000',
      });
      expect(await charged(sut.payment_intent_id)).toBe('59.50');
      expect(await balanceOf(ws)).toBe('50.000000');
    });

    it('taxes Great Britain at the rate TAX_COUNTRY_RATES sets (17.5 %, over the file’s 20 %)', async () => {
      const ws = await customer({ country: 'GB', city: 'London' });

      const sut = await buy(ws, '10.00');

      // 10.00 x 17.5 % = 1.75
      expect(sut).toMatchObject({
        tax: { amount: '1.750000', jurisdiction: 'GB', rate: '17.5' },
        total: '11.750000',
      });
      expect(await charged(sut.payment_intent_id)).toBe('11.75');
    });

    it('does not tax a country without a configured rate', async () => {
      const ws = await customer({ country: 'BR', city: 'São Paulo' });

      const sut = await buy(ws, '10.00');

      expect(sut).toMatchObject({ tax: { amount: '0.000000', jurisdiction: null }, total: '10.000000' });
    });
  });

  describe('bill-to, taken with the tax when the purchase is opened', () => {
    const CALIFORNIA = {
      legal_name: 'Taxed Inc.',
      address_line1: '1 Market St',
      city: 'San Francisco',
      region: 'CA',
      postal_code: '94105',
      country: 'US',
      purchase_order_number: 'PO-CA-1',
      billing_reference: 'REF-CA',
    };

    it('an invoice issued after the profile moved to Germany is made out to the California address it was taxed for', async () => {
      const ws = await customer(CALIFORNIA);
      // A card that needs 3-D Secure on every payment: the purchase settles only after the holder acts.
      const card = await saveCard(stack, ws, 'pm_card_authenticationRequired');
      const pending = await stack.admin.post(
        `${ws.path}/purchases`,
        { amount: '100.00', payment_method_id: card.id },
        { 'idempotency-key': randomUUID() },
      );
      expect(pending.body).toMatchObject({ status: 'requires_action', tax: { jurisdiction: 'US-CA' } });
      const moved = await stack.admin.put(`${ws.path}/billing-profile`, {
        legal_name: 'Moved GmbH',
        address_line1: 'Unter den Linden 1',
        city: 'Berlin',
        postal_code: '10117',
        country: 'DE',
        purchase_order_number: 'PO-DE-2',
        billing_reference: 'REF-DE',
      });
      expect(moved.status).toBe(200);

      // The holder authenticates; the webhook credits the purchase and issues its invoice.
      await authenticate(stack, 'payment_intents', pending.body.payment_intent_id);

      const [invoice] = await waitFor(
        () => stack.stores.sql<any[]>`
          select bill_to, tax_jurisdiction, tax_rate_ppm, purchase_order_number, billing_reference
          from invoices where purchase_id = ${pending.body.id}`,
        (rows) => rows.length === 1,
        { what: 'the webhook to issue the invoice' },
      );
      expect(invoice).toEqual({
        bill_to: expect.objectContaining({
          name: 'Taxed Inc.',
          address_line1: '1 Market St',
          city: 'San Francisco',
          region: 'CA',
          postal_code: '94105',
          country: 'US',
        }),
        tax_jurisdiction: 'US-CA',
        tax_rate_ppm: 72_500,
        purchase_order_number: 'PO-CA-1',
        billing_reference: 'REF-CA',
      });
    });
  });

  describe('tax exemption', () => {
    it('once approved, exempts the next purchase; the earlier purchase and its invoice keep their tax', async () => {
      const ws = await customer({ country: 'US', region: 'CA' });
      const before = await buy(ws, '100.00');

      const uploaded = await upload(ws, pdf(randomUUID()));
      expect(uploaded.status).toBe(201);
      expect(uploaded.body).toMatchObject({ status: 'pending', content_type: 'application/pdf' });
      // Pending: still taxed.
      const whilePending = await buy(ws, '100.00');
      expect(whilePending.tax).toMatchObject({ amount: '7.250000', exempt: false });

      const approved = await review(uploaded.body.id, 'approve', 'resale certificate checked');
      expect(approved.status).toBe(200);
      expect(approved.body).toMatchObject({ status: 'approved', review_note: 'resale certificate checked' });
      const after = await buy(ws, '100.00');

      expect(after).toMatchObject({
        tax: { amount: '0.000000', jurisdiction: 'US-CA', rate: '0', exempt: true },
        total: '100.000000',
      });
      expect(await charged(after.payment_intent_id)).toBe('100.00');
      expect(await invoiceOf(after.id)).toMatchObject({
        tax_micros: 0n,
        total_micros: parseUsd('100.00'),
        tax_exempt: true,
      });

      const earlier = await stack.admin.get(`${ws.path}/purchases/${before.id}`);
      expect(earlier.body).toMatchObject({ tax: { amount: '7.250000', exempt: false }, total: '107.250000' });
      expect(await invoiceOf(before.id)).toMatchObject({
        tax_micros: parseUsd('7.25'),
        total_micros: parseUsd('107.25'),
        tax_exempt: false,
      });
      expect(await balanceOf(ws)).toBe('300.000000');
      const profile = await stack.admin.get(`${ws.path}/billing-profile`);
      expect(profile.body.tax).toEqual({ jurisdiction: 'US-CA', rate: '0', exempt: true });
    });

    it('stores the document in S3 under a key fixed by its content, with its SHA-256', async () => {
      const ws = await Workspace.create(stack);
      const bytes = pdf(randomUUID());

      const sut = await upload(ws, bytes, '../../etc/My Certificate.pdf');

      const sha256 = createHash('sha256').update(bytes).digest('hex');
      expect(sut.status).toBe(201);
      expect(sut.body).toMatchObject({
        sha256,
        size_bytes: bytes.length,
        file_name: 'My Certificate.pdf',
        status: 'pending',
      });
      const key = `tax-exemptions/${ws.accountId}/${sha256}.pdf`;
      expect(await stack.s3!.storage.head(key)).toMatchObject({ size: bytes.length, sha256 });
      expect((await stack.s3!.storage.getBuffer(key)).equals(bytes)).toBe(true);

      const link = await stack.admin.get(`/v1/admin/tax-exemptions/${sut.body.id}/document`);
      expect(link.status).toBe(200);
      const downloaded = Buffer.from(await (await fetch(link.body.url)).arrayBuffer());
      expect(downloaded.equals(bytes)).toBe(true);
    });

    it('takes the same document twice as one submission (200, same id)', async () => {
      const ws = await Workspace.create(stack);
      const bytes = pdf(randomUUID());
      const first = await upload(ws, bytes);

      const again = await upload(ws, bytes);

      expect(again.status).toBe(200);
      expect(again.body.id).toBe(first.body.id);
      const list = await stack.admin.get(`${ws.path}/tax-exemptions`);
      expect(list.body.tax_exemptions).toHaveLength(1);
    });

    it('accepts PNG and JPEG by their bytes and refuses anything else with nothing stored', async () => {
      const ws = await Workspace.create(stack);
      const png = Buffer.concat([
        Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
        Buffer.from(randomUUID()),
      ]);
      const jpeg = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.from(randomUUID())]);

      expect((await upload(ws, png, 'scan.png', 'image/png')).body).toMatchObject({
        content_type: 'image/png',
      });
      expect((await upload(ws, jpeg, 'scan.jpg', 'image/jpeg')).body).toMatchObject({
        content_type: 'image/jpeg',
      });
      expectError(
        await upload(ws, Buffer.from('MZ not a certificate'), 'cert.pdf'),
        415,
        'unsupported_document_type',
      );
      expectError(await upload(ws, Buffer.alloc(0), 'empty.pdf'), 422, 'empty_document');
      const json = await stack.admin.post(`${ws.path}/tax-exemptions`, { file: 'x' });
      expectError(json, 415, 'unsupported_media_type');
      expectError(await uploadRaw(ws, [note('resale')]), 422, 'document_required');

      const list = await stack.admin.get(`${ws.path}/tax-exemptions`);
      expect(list.body.tax_exemptions.map((row: any) => row.content_type).sort()).toEqual([
        'image/jpeg',
        'image/png',
      ]);
    });

    const certificate = (fileName = 'certificate.pdf'): RawPart => ({
      disposition: `name="file"; filename="${fileName}"`,
      type: 'application/pdf',
      body: pdf(randomUUID()),
    });
    const note = (value: string): RawPart => ({ disposition: 'name="note"', body: value });

    it.each([
      ['U+0000 in the file name', [certificate('cert\u0000.pdf')], 'file.filename'],
      ['U+0000 in a text field before the file', [note('resale\u0000'), certificate()], 'note'],
      ['U+0000 in a text field after the file', [certificate(), note('resale\u0000')], 'note'],
      [
        'a lone surrogate in a JSON field',
        [
          { disposition: 'name="meta"', type: 'application/json', body: '{"state":"a\\ud800b"}' },
          certificate(),
        ],
        'meta.state',
      ],
    ])('refuses %s with 422 validation_failed and stores nothing', async (_, parts, field) => {
      const ws = await Workspace.create(stack);

      const sut = await uploadRaw(ws, parts);

      expect({ status: sut.status, body: sut.body }).toEqual({
        status: 422,
        body: {
          error: { code: 'validation_failed', message: expect.stringContaining(field) },
          errors: [{ field, code: 'invalid', message: expect.any(String) }],
        },
      });
      expect((await stack.admin.get(`${ws.path}/tax-exemptions`)).body.tax_exemptions).toHaveLength(0);
      expect(
        await stack.stores.sql`select id from tax_exemptions where account_id = ${ws.accountId}`,
      ).toHaveLength(0);
      expect(await stack.s3!.keys(`tax-exemptions/${ws.accountId}/`)).toEqual([]);
    });

    it('refuses a second file part with 422 one_document_only and stores nothing', async () => {
      const ws = await Workspace.create(stack);

      const sut = await uploadRaw(ws, [certificate('first.pdf'), certificate('second.pdf')]);

      expectError(sut, 422, 'one_document_only');
      expect(await stack.s3!.keys(`tax-exemptions/${ws.accountId}/`)).toEqual([]);
      expect((await stack.admin.get(`${ws.path}/tax-exemptions`)).body.tax_exemptions).toHaveLength(0);
    });

    it('takes a document sent with text fields that Postgres can store', async () => {
      const ws = await Workspace.create(stack);

      const sut = await uploadRaw(ws, [note('resale certificate, état de NY'), certificate('scan.pdf')]);

      expect({ status: sut.status, fileName: sut.body?.file_name }).toEqual({
        status: 201,
        fileName: 'scan.pdf',
      });
    });

    it('refuses a document over the size limit with 413 and stores nothing', async () => {
      const ws = await Workspace.create(stack);
      const big = Buffer.concat([pdf('big'), Buffer.alloc(MAX_DOCUMENT_BYTES)]);

      const sut = await upload(ws, big);

      expectError(sut, 413, 'document_too_large');
      expect((await stack.admin.get(`${ws.path}/tax-exemptions`)).body.tax_exemptions).toHaveLength(0);
    });

    it('a rejected certificate leaves the account taxed and cannot be approved afterwards', async () => {
      const ws = await customer({ country: 'US', region: 'NY' });
      const uploaded = await upload(ws, pdf(randomUUID()));

      const rejected = await review(uploaded.body.id, 'reject', 'expired certificate');
      expect(rejected.body).toMatchObject({ status: 'rejected', review_note: 'expired certificate' });
      expectError(await review(uploaded.body.id, 'approve'), 409, 'tax_exemption_already_reviewed');
      // The same decision again is a harmless retry.
      expect((await review(uploaded.body.id, 'reject')).body.status).toBe('rejected');

      const sut = await buy(ws, '10.00');
      expect(sut.tax).toMatchObject({ amount: '0.400000', exempt: false });
    });

    it('audits upload and review, and shows the review queue to admins only', async () => {
      const ws = await Workspace.create(stack);
      const uploaded = await upload(ws, pdf(randomUUID()));

      const queue = await stack.admin.get('/v1/admin/tax-exemptions?status=pending&limit=500');
      expect(queue.body.tax_exemptions.map((row: any) => row.id)).toContain(uploaded.body.id);
      const key = await ws.createKey({ role: 'owner' });
      expect((await ws.asKey(key.key).api.get('/v1/admin/tax-exemptions')).status).toBe(403);
      expect(
        (await ws.asKey(key.key).api.post(`/v1/admin/tax-exemptions/${uploaded.body.id}/approve`, {})).status,
      ).toBe(403);

      await review(uploaded.body.id, 'approve');
      const audit = await stack.admin.get(`${ws.path}/audit-log?limit=100`);
      const actions = audit.body.entries.map((entry: any) => entry.action);
      expect(actions).toEqual(expect.arrayContaining(['tax_exemption.uploaded', 'tax_exemption.approved']));
      expectError(await review(randomUUID(), 'approve'), 404, 'tax_exemption_not_found');
    });
  });

  describe('refunds', () => {
    it('returns the credits’ share of the tax, rounded half up, and all of it by the last refund', async () => {
      const ws = await customer({ country: 'US', region: 'CA' });
      const bought = await buy(ws, '100.00');
      const refund = (amount?: string) =>
        stack.admin.post(`/v1/admin/purchases/${bought.id}/refunds`, amount ? { amount } : {}, {
          'idempotency-key': randomUUID(),
        });

      const partial = await refund('10.00');
      // 7.25 x 10 / 100 = 0.725 -> 0.73
      expect(partial.body).toMatchObject({
        amount: '10.000000',
        tax: '0.730000',
        total: '10.730000',
        balance: '90.000000',
      });
      const tooMuch = await refund('90.01');
      expectError(tooMuch, 422, 'refund_exceeds_remaining');
      const rest = await refund();
      expect(rest.body).toMatchObject({
        amount: '90.000000',
        tax: '6.520000',
        total: '96.520000',
        balance: '0.000000',
      });

      const refunds = await stripe.refunds.list({ payment_intent: bought.payment_intent_id, limit: 100 });
      expect(refunds.data.reduce((sum, r) => sum + r.amount, 0)).toBe(10725);
      const purchase = await stack.admin.get(`${ws.path}/purchases/${bought.id}`);
      expect(purchase.body.refunded).toBe('100.000000');
    });

    it('two halves refunded at once return exactly the tax charged: the later one returns what is left', async () => {
      const ws = await customer({ country: 'US', region: 'CA' });
      const bought = await buy(ws, '100.00');
      const half = () =>
        stack.admin.post(
          `/v1/admin/purchases/${bought.id}/refunds`,
          { amount: '50.00' },
          { 'idempotency-key': randomUUID() },
        );

      // 7.25 x 50 / 100 = 3.625 -> 3.63 for the first; each computed as the first would return 7.26.
      const halves = await Promise.all([half(), half()]);

      expect(halves.map((response) => response.status)).toEqual([201, 201]);
      expect(halves.map((response) => response.body.tax).sort()).toEqual(['3.620000', '3.630000']);
      const refunds = await stripe.refunds.list({ payment_intent: bought.payment_intent_id, limit: 100 });
      expect(refunds.data.reduce((sum, r) => sum + r.amount, 0)).toBe(10725);
      expect(await balanceOf(ws)).toBe('0.000000');
    });
  });

  describe('auto-reload', () => {
    it('charges the reload amount plus tax and credits the amount', async () => {
      const ws = await customer({ country: 'US', region: 'NY' });
      await stack.grant(ws.accountId, '10.00');
      const saved = await stack.admin.put(`${ws.path}/auto-reload`, {
        enabled: true,
        threshold: '5.00',
        amount: '20.00',
      });
      expect(saved.status).toBe(200);

      const event = {
        id: randomUUID(),
        account_id: ws.accountId,
        model: MODEL,
        prompt_tokens: 6 * TOKENS_PER_USD,
        completion_tokens: 0,
      };
      expect((await stack.gateway.post('/v1/usage/events', { events: [event] })).status).toBe(202);

      const reload = await waitFor(
        async () =>
          (await stack.admin.get(`${ws.path}/purchases`)).body.purchases.find(
            (p: any) => p.kind === 'auto_reload',
          ),
        (found) => found?.status === 'succeeded',
        { what: 'the auto-reload to succeed' },
      );
      // 20.00 x 4 % = 0.80
      expect(reload).toMatchObject({
        amount: '20.000000',
        tax: { amount: '0.800000', jurisdiction: 'US-NY' },
        total: '20.800000',
      });
      expect(await charged(reload.payment_intent_id)).toBe('20.80');
      await waitFor(
        () => balanceOf(ws),
        (balance) => balance === '24.000000',
        { what: 'balance 10 - 6 + 20' },
      );
    });
  });
});

/** "7.25" -> "7.250000", the API's money form. */
function parseFixed(usd: string): string {
  const [whole, fraction = ''] = usd.split('.');
  return `${whole}.${fraction.padEnd(6, '0')}`;
}
