export * from './stripe-server';
export * from './webhooks/webhook-signature';
export type { WebhookDeliveryRecord } from './webhooks/webhook-delivery';
export type { StripeEvent } from './core/state';
export { TEST_CARDS } from './cards/test-cards';
export type { TestCard } from './cards/test-cards';
