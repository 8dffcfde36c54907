import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { StripeState } from './core/state';
import { createRequestListener } from './http/request-handler';
import { IdempotencyCache } from './http/idempotency-cache';
import { Router } from './http/router';
import { registerCustomerRoutes } from './resources/customers.routes';
import { registerPaymentIntentRoutes } from './resources/payment-intents.routes';
import { registerPaymentMethodRoutes } from './resources/payment-methods.routes';
import { registerReadOnlyRoutes } from './resources/read-only.routes';
import { registerRefundRoutes } from './resources/refunds.routes';
import { registerSetupIntentRoutes } from './resources/setup-intents.routes';
import { registerTestHelperRoutes } from './resources/test-helpers.routes';
import { EventLog } from './webhooks/event-log';
import { WebhookDelivery, WebhookDeliveryRecord } from './webhooks/webhook-delivery';

/** The API version stripe-node 23.1 (the SDK this project pins) sends. */
export const DEFAULT_API_VERSION = '2026-10-28.endive';
export const DEFAULT_WEBHOOK_SECRET = 'whsec_dev_secret_change_me';

export interface StripeServerOptions {
  webhookUrl?: string;
  webhookSecret?: string;
  webhookMaxAttempts?: number;
  webhookRetryBaseMs?: number;
  webhookRetryMaxMs?: number;
  webhookTimeoutMs?: number;
  /** Deliver every event twice, to prove consumers dedupe. */
  webhookDuplicateDelivery?: boolean;
  defaultApiVersion?: string;
  log?: (line: string) => void;
}

export interface StripeServer {
  /** Resolves with the base URL, e.g. http://127.0.0.1:12111. Port 0 picks a free port. */
  listen(port: number, host?: string): Promise<string>;
  close(): Promise<void>;
  readonly port: number;
  readonly state: StripeState;
  webhookDeliveries(): WebhookDeliveryRecord[];
  reset(): void;
}

/** A Stripe-compatible test server: in-memory state, Stripe's encoding and shapes, signed webhooks. */
export function createStripeServer(options: StripeServerOptions = {}): StripeServer {
  const log = options.log ?? (() => undefined);
  const state = new StripeState();
  const idempotency = new IdempotencyCache();
  const delivery = new WebhookDelivery({
    url: options.webhookUrl,
    secret: options.webhookSecret ?? DEFAULT_WEBHOOK_SECRET,
    maxAttempts: options.webhookMaxAttempts ?? 10,
    retryBaseMs: options.webhookRetryBaseMs ?? 500,
    retryMaxMs: options.webhookRetryMaxMs ?? 30_000,
    timeoutMs: options.webhookTimeoutMs ?? 10_000,
    duplicateEveryEvent: options.webhookDuplicateDelivery ?? false,
    log,
  });
  const events = new EventLog(state, delivery);
  const reset = () => {
    delivery.reset();
    idempotency.clear();
    state.reset();
  };

  const api = new Router();
  registerCustomerRoutes(api);
  registerPaymentMethodRoutes(api);
  registerSetupIntentRoutes(api);
  registerPaymentIntentRoutes(api);
  registerRefundRoutes(api);
  registerReadOnlyRoutes(api);
  const testHelpers = new Router();
  registerTestHelperRoutes(testHelpers, {
    delivery,
    reset,
    forgetIdempotencyKey: (key) => idempotency.forget(key),
  });

  const server: Server = createServer(
    createRequestListener({
      api,
      testHelpers,
      state,
      events,
      idempotency,
      defaultApiVersion: options.defaultApiVersion ?? DEFAULT_API_VERSION,
      log,
    }),
  );

  return {
    state,
    reset,
    webhookDeliveries: () => delivery.list(),
    get port() {
      return (server.address() as AddressInfo | null)?.port ?? 0;
    },
    listen(port, host = '127.0.0.1') {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          const address = server.address() as AddressInfo;
          resolve(`http://${host.includes(':') ? `[${host}]` : host}:${address.port}`);
        });
      });
    },
    close() {
      delivery.reset();
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
