import { JsonResponse } from '../support/api-client';
import { BillingStack } from '../support/billing-stack';
import { Workspace } from '../support/workspace';

/**
 * The billing profile (issue 5, item 3): the bill-to of invoices and the address sales tax
 * follows. Replaced whole by PUT, validated (ISO country, U.S. state), audited, and it tells the
 * account what tax its next purchase pays.
 */
describe('billing profile', () => {
  const stack = new BillingStack({ workers: 1 });

  const FULL = {
    legal_name: 'Acme Corp.',
    address_line1: '1 Market St',
    address_line2: 'Suite 300',
    city: 'San Francisco',
    region: 'ca',
    postal_code: '94105',
    country: 'us',
    tax_id: 'US12-3456789',
    purchase_order_number: 'PO-2026-0042',
    billing_reference: 'Cost center 7',
  };

  function expectError(response: JsonResponse, status: number, code: string): void {
    expect({ status: response.status, code: response.body?.error?.code }).toEqual({ status, code });
  }

  async function auditOf(ws: Workspace, action: string) {
    const response = await stack.admin.get(`${ws.path}/audit-log?limit=1000&action=${action}`);
    expect(response.status).toBe(200);
    return response.body.entries as { actor: any; before: any; after: any; target: any }[];
  }

  beforeAll(() => stack.start());
  afterAll(() => stack.stop());

  it('is empty, untaxed, for an account that never set it', async () => {
    const ws = await Workspace.create(stack);

    const sut = await stack.admin.get(`${ws.path}/billing-profile`);

    expect(sut.status).toBe(200);
    expect(sut.body).toMatchObject({
      account_id: ws.accountId,
      legal_name: null,
      country: null,
      region: null,
      tax: { jurisdiction: null, rate: '0', exempt: false },
      updated_at: null,
    });
  });

  it('saves every field, normalising country and state codes, and shows the tax it implies', async () => {
    const ws = await Workspace.create(stack);

    const sut = await stack.admin.put(`${ws.path}/billing-profile`, FULL);

    expect(sut.status).toBe(200);
    const expected = {
      ...FULL,
      region: 'CA',
      country: 'US',
      tax: { jurisdiction: 'US-CA', rate: '7.25', exempt: false },
    };
    expect(sut.body).toMatchObject(expected);
    expect((await stack.admin.get(`${ws.path}/billing-profile`)).body).toMatchObject(expected);
  });

  it('replaces the whole profile: omitted fields are cleared', async () => {
    const ws = await Workspace.create(stack);
    await stack.admin.put(`${ws.path}/billing-profile`, FULL);

    const sut = await stack.admin.put(`${ws.path}/billing-profile`, {
      legal_name: 'Acme GmbH',
      country: 'DE',
      city: 'Berlin',
    });

    expect(sut.status).toBe(200);
    expect(sut.body).toMatchObject({
      legal_name: 'Acme GmbH',
      country: 'DE',
      city: 'Berlin',
      region: null,
      address_line1: null,
      purchase_order_number: null,
      tax: { jurisdiction: 'DE', rate: '19', exempt: false },
    });
  });

  it('refuses a country that is not ISO 3166-1 alpha-2, and keeps the saved profile', async () => {
    const ws = await Workspace.create(stack);
    await stack.admin.put(`${ws.path}/billing-profile`, FULL);

    for (const country of ['XX', 'USA', 'Germany', '']) {
      const response = await stack.admin.put(`${ws.path}/billing-profile`, { ...FULL, country });
      expectError(response, 422, 'validation_failed');
      expect(response.body.errors).toEqual(
        expect.arrayContaining([expect.objectContaining({ field: 'country' })]),
      );
    }
    expect((await stack.admin.get(`${ws.path}/billing-profile`)).body).toMatchObject({
      country: 'US',
      region: 'CA',
    });
    expect(await auditOf(ws, 'billing_profile.updated')).toHaveLength(1);
  });

  it('refuses a U.S. address without a known state code', async () => {
    const ws = await Workspace.create(stack);
    for (const region of [undefined, 'California', 'ZZ']) {
      const response = await stack.admin.put(`${ws.path}/billing-profile`, { ...FULL, region });
      expectError(response, 422, 'invalid_region');
    }
    expect((await stack.admin.get(`${ws.path}/billing-profile`)).body.updated_at).toBeNull();
  });

  it('refuses unknown fields and overlong values', async () => {
    const ws = await Workspace.create(stack);
    expectError(
      await stack.admin.put(`${ws.path}/billing-profile`, { ...FULL, vat_rate: '0' }),
      422,
      'validation_failed',
    );
    expectError(
      await stack.admin.put(`${ws.path}/billing-profile`, { ...FULL, legal_name: 'x'.repeat(201) }),
      422,
      'validation_failed',
    );
  });

  it('records every change in the audit log with the state before and after', async () => {
    const ws = await Workspace.create(stack);
    const key = await ws.createKey({ role: 'billing' });
    await ws.asKey(key.key).api.put(`${ws.path}/billing-profile`, FULL);
    await stack.admin.put(`${ws.path}/billing-profile`, { ...FULL, purchase_order_number: 'PO-2' });

    const entries = await auditOf(ws, 'billing_profile.updated');

    expect(entries).toHaveLength(2);
    const [second, first] = entries;
    expect(first).toMatchObject({
      actor: { type: 'api_key', id: key.id },
      target: { type: 'billing_profile', id: ws.accountId },
      before: null,
      after: { legal_name: 'Acme Corp.', country: 'US', region: 'CA', purchase_order_number: 'PO-2026-0042' },
    });
    expect(second).toMatchObject({
      actor: { type: 'admin' },
      before: { purchase_order_number: 'PO-2026-0042' },
      after: { purchase_order_number: 'PO-2' },
    });
  });

  it('needs billing:manage: a member key gets 403, a billing key may read and write', async () => {
    const ws = await Workspace.create(stack);
    const member = ws.asKey((await ws.createKey({ role: 'member' })).key).api;
    const billing = ws.asKey((await ws.createKey({ role: 'billing' })).key).api;

    expectError(await member.get(`${ws.path}/billing-profile`), 403, 'insufficient_role');
    expectError(await member.put(`${ws.path}/billing-profile`, FULL), 403, 'insufficient_role');
    expect((await billing.put(`${ws.path}/billing-profile`, FULL)).status).toBe(200);
    expect((await billing.get(`${ws.path}/billing-profile`)).body.legal_name).toBe('Acme Corp.');
  });

  it('answers 404 account_not_found for an unknown account', async () => {
    const path = '/v1/accounts/00000000-0000-4000-8000-000000000000/billing-profile';
    expectError(await stack.admin.get(path), 404, 'account_not_found');
    expectError(await stack.admin.put(path, FULL), 404, 'account_not_found');
  });
});
