import Stripe from 'stripe';
import { BillingStack, STACK_WEBHOOK_SECRET } from './billing-stack';

/** Delivers an event to the api as Stripe's servers do, signed with the stack's webhook secret; its status. */
export async function deliverStripeEvent(stack: BillingStack, event: Stripe.Event): Promise<number> {
  const payload = JSON.stringify(event);
  const signature = stack
    .stripeClient()
    .webhooks.generateTestHeaderString({ payload, secret: STACK_WEBHOOK_SECRET });
  const response = await fetch(`${stack.api.url}/webhooks/stripe`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'stripe-signature': signature },
    body: payload,
  });
  await response.text();
  return response.status;
}
