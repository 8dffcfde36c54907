import { createServer, IncomingMessage, request, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';

/**
 * How the proxy treats requests: `pass` forwards them; `lose-create-answer` forwards
 * POST /v1/payment_intents (Stripe creates and charges) and then drops the connection before the
 * answer, as a network failure after the request arrived would; `down` drops every connection
 * without forwarding anything (Stripe unreachable).
 */
export type StripeProxyMode = 'pass' | 'lose-create-answer' | 'down';

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

  constructor(private readonly upstreamPort: () => number) {}

  get url(): string {
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
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
    const loseAnswer =
      this.mode === 'lose-create-answer' &&
      req.method === 'POST' &&
      req.url?.split('?')[0] === '/v1/payment_intents';
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
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.once('error', () => req.socket.destroy());
    upstream.end(Buffer.concat(chunks));
  }
}
