import { Agent, request } from 'node:http';

export interface HttpResult {
  status: number;
  body: string;
  /** Milliseconds from sending the request to the last byte of the response. */
  ms: number;
}

/** A tiny keep-alive HTTP/1.1 client over node:http (no per-request TLS, no fetch overhead). */
export class HttpClient {
  private readonly agent: Agent;
  private readonly host: string;
  private readonly port: number;

  constructor(
    baseUrl: string,
    private readonly token: string,
    maxSockets: number,
  ) {
    const url = new URL(baseUrl);
    this.host = url.hostname;
    this.port = Number(url.port);
    this.agent = new Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  }

  send(method: string, path: string, body?: string): Promise<HttpResult> {
    const started = process.hrtime.bigint();
    return new Promise((resolve, reject) => {
      const headers: Record<string, string | number> = { authorization: `Bearer ${this.token}` };
      let payload: Buffer | undefined;
      if (body !== undefined) {
        payload = Buffer.from(body);
        headers['content-type'] = 'application/json';
        headers['content-length'] = payload.length;
      }
      const req = request(
        { host: this.host, port: this.port, method, path, headers, agent: this.agent },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              body: Buffer.concat(chunks).toString(),
              ms: Number(process.hrtime.bigint() - started) / 1e6,
            }),
          );
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
