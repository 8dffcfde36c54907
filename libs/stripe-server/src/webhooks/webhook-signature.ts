import { createHmac } from 'node:crypto';

/**
 * Stripe's webhook signature: HMAC-SHA256 of `<timestamp>.<raw body>` keyed with the endpoint
 * secret (the whole `whsec_…` string), hex encoded, sent as `Stripe-Signature: t=<ts>,v1=<hex>`.
 * This is what `stripe.webhooks.constructEvent(body, header, secret)` verifies.
 */
export function signaturePayloadHmac(payload: string, secret: string, timestamp: number): string {
  return createHmac('sha256', secret).update(`${timestamp}.${payload}`, 'utf8').digest('hex');
}

export function stripeSignatureHeader(payload: string, secret: string, timestamp: number): string {
  return `t=${timestamp},v1=${signaturePayloadHmac(payload, secret, timestamp)}`;
}
