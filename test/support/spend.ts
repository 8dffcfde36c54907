import { randomUUID } from 'node:crypto';
import { BillingStack } from './billing-stack';

/**
 * Prompt tokens per dollar of a model priced at 1,000 USD per million prompt tokens
 * (`stack.setPrice(model, '1000', '1000')`): one token costs 1,000 micros.
 */
export const TOKENS_PER_USD = 1000;

/** A usage event as the gateway contract has it. */
export interface SpentEvent {
  id: string;
  account_id: string;
  model: string;
  prompt_tokens: number;
  completion_tokens: number;
}

/**
 * Pushes one usage event of `model` (priced as TOKENS_PER_USD says) costing `usd` to the account
 * through the gateway, and expects it accepted. Returns the event as sent (a suite may queue it again).
 */
export async function spendUsd(
  stack: BillingStack,
  accountId: string,
  model: string,
  usd: number,
): Promise<SpentEvent> {
  const event: SpentEvent = {
    id: randomUUID(),
    account_id: accountId,
    model,
    prompt_tokens: Math.round(usd * TOKENS_PER_USD),
    completion_tokens: 0,
  };
  const response = await stack.gateway.post('/v1/usage/events', { events: [event] });
  expect(response.status).toBe(202);
  return event;
}
