import { createServer, IncomingMessage, request, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';

/**
 * How the proxy treats requests: `pass` forwards them; `hold-create-request` holds
 * POST /v1/payment_intents back before Stripe sees it (nothing charged yet) until `releaseHeld()`;
 * `lose-create-answer` forwards it (Stripe creates and charges) and then drops the connection
 * before the answer, as a network failure after the request arrived would; `hold-create-answer`
 * forwards it and holds the answer back until `releaseHeld()`, to pause the caller right there;
 * `down` drops every connection without forwarding anything (Stripe unreachable).
 */
export type StripeProxyMode =
  'pass' | 'hold-create-request' | 'lose-create-answer' | 'hold-create-answer' | 'down';

/**
 * An HTTP proxy put between an app and the stack's stripe server (its STRIPE_API_URL), to lose
 * Stripe's answers on purpose. The upstream port is read per request, so the proxy can be started
 * (and its port handed to the apps) before the stripe server is.
 */
export class StripeProxy {
  mode: StripeProxyMode = 'pass';
  /** The mode once an answer was lost (e.g. `down`: Stripe unreachable from then on). */
  afterLoss: StripeProxyMode | null = null;
  /** Requests of POST /v1/payment_intents forwarded whose answer was dropped. */
  lostCreates = 0;
  private server: Server | null = null;
  private held: (() => void)[] = [];

  constructor(private readonly upstreamPort: () => number) {}

  get url(): string {
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  /** Requests or answers of POST /v1/payment_intents held back (`hold-create-*`), not released yet. */
  get heldCreates(): number {
    return this.held.length;
  }

  releaseHeld(): void {
    for (const send of this.held.splice(0)) send();
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve) ?? resolve(undefined));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.mode === 'down') {
      req.socket.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const create = req.method === 'POST' && req.url?.split('?')[0] === '/v1/payment_intents';
    const loseAnswer = create && this.mode === 'lose-create-answer';
    const holdAnswer = create && this.mode === 'hold-create-answer';
    const forward = () => this.forward(req, res, Buffer.concat(chunks), loseAnswer, holdAnswer);
    if (create && this.mode === 'hold-create-request') this.held.push(forward);
    else forward();
  }

  private forward(
    req: IncomingMessage,
    res: ServerResponse,
    body: Buffer,
    loseAnswer: boolean,
    holdAnswer: boolean,
  ): void {
    const upstream = request(
      {
        host: '127.0.0.1',
        port: this.upstreamPort(),
        method: req.method,
        path: req.url,
        headers: { ...req.headers, connection: 'close' },
      },
      (answer) => {
        if (loseAnswer) {
          answer.resume();
          answer.once('end', () => {
            this.lostCreates++;
            if (this.afterLoss) this.mode = this.afterLoss;
            req.socket.destroy();
          });
          return;
        }
        const send = () => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        };
        if (holdAnswer) this.held.push(send);
        else send();
      },
    );
    upstream.once('error', () => req.socket.destroy());
    upstream.end(body);
  }
}
