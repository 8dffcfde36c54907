import { ApiClient } from './api-client';
import { BillingStack } from './billing-stack';
import { Workspace } from './workspace';

/** A card as the api answers when it saves or lists one. */
export interface SavedCard {
  id: string;
  brand: string;
  last4: string;
  exp_month: number;
  exp_year: number;
  is_default: boolean;
}

/** The card holder completes 3-D Secure (a stripe-server test helper; Stripe.js in real life). */
export async function authenticate(
  stack: BillingStack,
  kind: 'setup_intents' | 'payment_intents',
  id: string,
): Promise<void> {
  const response = await fetch(`${stack.stripeServer!.url}/_test/${kind}/${id}/authenticate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ outcome: 'succeed' }),
  });
  if (response.status !== 200)
    throw new Error(`authenticate ${id}: ${response.status} ${await response.text()}`);
}

/**
 * The client's half of adding a card: a SetupIntent from the api, confirmed with a test card through
 * the official SDK as Stripe.js would (3-D Secure completed when the card asks). Nothing is saved
 * through the api yet; returns the SetupIntent's id.
 */
export async function confirmCardSetup(
  stack: BillingStack,
  ws: Workspace,
  card = 'pm_card_visa',
  client: ApiClient = stack.admin,
): Promise<string> {
  const setup = await client.post(`${ws.path}/payment-methods/setup-intents`);
  if (setup.status !== 201) throw new Error(`setup intent: ${setup.status} ${JSON.stringify(setup.body)}`);
  const confirmed = await stack
    .stripeClient()
    .setupIntents.confirm(setup.body.setup_intent_id, { payment_method: card });
  if (confirmed.status === 'requires_action') await authenticate(stack, 'setup_intents', confirmed.id);
  return confirmed.id;
}

/** Adds a card the way a customer does: confirmCardSetup, then saved through the api by `client`. */
export async function saveCard(
  stack: BillingStack,
  ws: Workspace,
  card = 'pm_card_visa',
  client: ApiClient = stack.admin,
): Promise<SavedCard> {
  const setupIntentId = await confirmCardSetup(stack, ws, card, client);
  const saved = await client.post<SavedCard>(`${ws.path}/payment-methods`, {
    setup_intent_id: setupIntentId,
  });
  if (saved.status !== 201) throw new Error(`save card: ${saved.status} ${JSON.stringify(saved.body)}`);
  return saved.body;
}

/** $10 granted, a visa (the default) and a mastercard saved, auto-reload at $5 -> +$20. */
export async function twoCardWorkspace(
  stack: BillingStack,
): Promise<{ ws: Workspace; visa: SavedCard; mastercard: SavedCard }> {
  const ws = await Workspace.create(stack);
  await stack.grant(ws.accountId, '10.00');
  const visa = await saveCard(stack, ws, 'pm_card_visa');
  const mastercard = await saveCard(stack, ws, 'pm_card_mastercard');
  const settings = { enabled: true, threshold: '5.00', amount: '20.00' };
  if ((await stack.admin.put(`${ws.path}/auto-reload`, settings)).status !== 200)
    throw new Error('auto-reload settings were refused');
  return { ws, visa, mastercard };
}
