import { AddressInfo, connect, createServer, Server, Socket } from 'node:net';

/**
 * A TCP proxy between apps and a server (Postgres), which a test can take down: `down()` ends
 * every open connection and stops listening, so new ones are refused (ECONNREFUSED), as when the
 * server's host goes away; `up()` listens on the same port again. Other suites' connections to
 * the server itself are untouched.
 */
export class TcpProxy {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private cutAfter: { bytes: Buffer; cut: () => void } | null = null;
  /** While stalled: what clients sent, held back in order, to deliver on `resume()`. */
  private held: Array<{ upstream: Socket; chunk: Buffer }> | null = null;
  port = 0;

  constructor(
    private readonly upstreamHost: string,
    private readonly upstreamPort: number,
  ) {}

  /** `url` with its host and port replaced by the proxy's. */
  via(url: string): string {
    const proxied = new URL(url);
    proxied.hostname = '127.0.0.1';
    proxied.port = String(this.port);
    return proxied.toString();
  }

  async up(): Promise<this> {
    const server = createServer((client) => {
      const upstream = connect(this.upstreamPort, this.upstreamHost);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.once('close', () => this.sockets.delete(socket));
        // A reset on one side ends the other; the error itself is the apps' to see, not ours.
        socket.on('error', () => undefined);
      }
      upstream.pipe(client);
      this.forward(client, upstream);
      client.once('close', () => upstream.destroy());
      upstream.once('close', () => client.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', resolve);
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    return this;
  }

  /**
   * Goes down (see `down()`) when a connection opened from now on sends anything after `bytes`
   * (e.g. the RESP-encoded INFO of a Redis client's ready check): that chunk never reaches the
   * server, as when the server goes away just as the connection became usable. Resolves once down.
   */
  downAfter(bytes: Buffer): Promise<void> {
    return new Promise((resolve) => {
      this.cutAfter = { bytes, cut: () => void this.down().then(resolve) };
    });
  }

  /** Client to server, chunk by chunk, so a `downAfter` cut happens before the chunk is forwarded. */
  private forward(client: Socket, upstream: Socket): void {
    const cutAfter = this.cutAfter;
    let seen = false;
    client.on('data', (chunk: Buffer) => {
      if (cutAfter && this.cutAfter === cutAfter) {
        if (seen) {
          this.cutAfter = null;
          cutAfter.cut();
          return;
        }
        seen = chunk.includes(cutAfter.bytes);
      }
      if (this.held) {
        this.held.push({ upstream, chunk });
        return;
      }
      if (!upstream.write(chunk)) {
        client.pause();
        upstream.once('drain', () => client.resume());
      }
    });
    client.once('end', () => upstream.end());
  }

  /**
   * Stops forwarding anything clients send, closing nothing and still accepting connections: the
   * server hears nothing and so answers nothing, as a SIGSTOPped or swapping server, or one behind
   * a path that drops packets. What clients send meanwhile is held, as the server's socket buffers
   * would hold it, and delivered on `resume()`: commands sent during a stall may still run after it.
   */
  stall(): void {
    this.held ??= [];
  }

  /** Forwards again, first everything held since `stall()`, in the order it was sent. */
  resume(): void {
    const held = this.held ?? [];
    this.held = null;
    for (const { upstream, chunk } of held) if (!upstream.destroyed) upstream.write(chunk);
  }

  async down(): Promise<void> {
    const server = this.server;
    this.server = null;
    const closed = new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }
}
