import { createStripeServer, StripeServer, StripeServerOptions } from '@app/stripe-server';
import { createServer, IncomingMessage, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import Stripe from 'stripe';

export const WEBHOOK_SECRET = 'whsec_test_suite_secret';

/** The Stripe-compatible server in-process, on a free port, with SDK clients pointed at it. */
export class StripeTestServer {
  private server: StripeServer | null = null;
  url = '';

  constructor(private readonly options: StripeServerOptions = {}) {}

  async start(): Promise<this> {
    this.server = createStripeServer({ webhookSecret: WEBHOOK_SECRET, ...this.options });
    this.url = await this.server.listen(0);
    return this;
  }

  async stop(): Promise<void> {
    await this.server?.close();
  }

  get port(): number {
    return this.server!.port;
  }

  /** The official SDK, configured as the product will configure it (TOOLCHAIN.md). */
  stripe(apiKey = 'sk_test_suite'): Stripe {
    return new Stripe(apiKey, {
      telemetry: false,
      host: '127.0.0.1',
      port: this.port,
      protocol: 'http',
      maxNetworkRetries: 0,
    });
  }

  /** Calls a /_test helper (not part of Stripe's API, so not reachable through the SDK). */
  async helper(
    method: 'GET' | 'POST',
    path: string,
    body?: Record<string, unknown>,
  ): Promise<{ status: number; body: any }> {
    const response = await fetch(`${this.url}${path}`, {
      method,
      headers: body ? { 'content-type': 'application/json' } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: response.status, body: await response.json() };
  }
}

export interface ReceivedWebhook {
  rawBody: string;
  signature: string;
  event: Stripe.Event;
}

/**
 * A local webhook endpoint that verifies every delivery with stripe.webhooks.constructEvent, the
 * way the product's endpoint will. It can answer 500 to chosen deliveries.
 */
export class WebhookReceiver {
  readonly received: ReceivedWebhook[] = [];
  readonly rejected: string[] = [];
  private failuresLeft = 0;
  private failureFilter: (rawBody: string) => boolean = () => true;
  private server: Server | null = null;
  private readonly verifier = new Stripe('sk_test_verifier', { telemetry: false });

  constructor(private readonly secret = WEBHOOK_SECRET) {}

  /** Listens on `port` (0: any free port) and returns the endpoint URL. */
  async start(port = 0): Promise<string> {
    this.server = createServer((request, response) => {
      void readAll(request).then((rawBody) => {
        if (this.failuresLeft > 0 && this.failureFilter(rawBody)) {
          this.failuresLeft--;
          response.writeHead(500).end('receiver down');
          return;
        }
        const signature = String(request.headers['stripe-signature'] ?? '');
        try {
          const event = this.verifier.webhooks.constructEvent(rawBody, signature, this.secret);
          this.received.push({ rawBody, signature, event });
          response.writeHead(200, { 'content-type': 'application/json' }).end('{"received":true}');
        } catch (error) {
          this.rejected.push(String(error));
          response.writeHead(400).end('bad signature');
        }
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/webhooks/stripe`;
  }

  /** Answers 500 to the next `count` deliveries whose body `matches`. */
  failNext(count: number, matches: (rawBody: string) => boolean = () => true): void {
    this.failuresLeft = count;
    this.failureFilter = matches;
  }

  eventsOfType(type: string): Stripe.Event[] {
    return this.received.map((item) => item.event).filter((event) => event.type === type);
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

function readAll(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

/** Awaits a rejected SDK call and returns the error, typed for assertions. */
export async function stripeError(call: Promise<unknown>): Promise<Stripe.errors.StripeError> {
  try {
    await call;
  } catch (error) {
    return error as Stripe.errors.StripeError;
  }
  throw new Error('expected the Stripe call to fail, but it succeeded');
}
