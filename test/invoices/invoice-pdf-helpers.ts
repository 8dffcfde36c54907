import { createHash, randomUUID } from 'node:crypto';
import { BillingStack } from '../support/billing-stack';
import { Workspace } from '../support/workspace';

export const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** A Californian customer with a tax id, PO number and billing reference: every optional block prints. */
export const ACME_PROFILE = {
  legal_name: 'Acme Robotics, Inc.',
  address_line1: '1 Infinite Loop',
  address_line2: 'Building 4',
  city: 'Cupertino',
  region: 'CA',
  postal_code: '95014',
  country: 'US',
  tax_id: 'US 98-7654321',
  purchase_order_number: 'PO-7781',
  billing_reference: 'Project Falcon',
};

export async function setBillingProfile(
  stack: BillingStack,
  ws: Workspace,
  profile = ACME_PROFILE,
): Promise<void> {
  const response = await stack.admin.put(`${ws.path}/billing-profile`, profile);
  if (response.status !== 200)
    throw new Error(`billing profile: ${response.status} ${JSON.stringify(response.body)}`);
}

/** Buys credits with the default card; returns the purchase's invoice as the API shows it. */
export async function buyAndGetInvoice(stack: BillingStack, ws: Workspace, amount: string): Promise<any> {
  const bought = await stack.admin.post(
    `${ws.path}/purchases`,
    { amount },
    { 'idempotency-key': randomUUID() },
  );
  if (bought.status !== 201) throw new Error(`purchase: ${bought.status} ${JSON.stringify(bought.body)}`);
  const [row] = await stack.stores.sql<
    { id: string }[]
  >`select id from invoices where purchase_id = ${bought.body.id}`;
  if (!row) throw new Error(`no invoice for purchase ${bought.body.id}`);
  const invoice = await stack.admin.get(`${ws.path}/invoices/${row.id}`);
  if (invoice.status !== 200) throw new Error(`invoice: ${invoice.status} ${JSON.stringify(invoice.body)}`);
  return invoice.body;
}

export async function recordedPdf(
  stack: BillingStack,
  invoiceId: string,
): Promise<{ pdf_key: string | null; pdf_sha256: string | null; pdf_rendered_at: Date | null }> {
  const [row] = await stack.stores.sql<
    { pdf_key: string | null; pdf_sha256: string | null; pdf_rendered_at: Date | null }[]
  >`select pdf_key, pdf_sha256, pdf_rendered_at from invoices where id = ${invoiceId}`;
  return row;
}
