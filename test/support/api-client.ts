import { request as httpRequest } from 'node:http';
import { TEST_ADMIN_TOKEN, TEST_GATEWAY_TOKEN } from './test-stores';

export interface JsonResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

/** Minimal JSON client for the apps under test. */
export class ApiClient {
  constructor(
    readonly baseUrl: string,
    private readonly token: string | null = TEST_GATEWAY_TOKEN,
  ) {}

  as(token: string | null): ApiClient {
    return new ApiClient(this.baseUrl, token);
  }

  admin(): ApiClient {
    return this.as(TEST_ADMIN_TOKEN);
  }

  async request<T = any>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<JsonResponse<T>> {
    const response = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: {
        ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: keep the text
    }
    return { status: response.status, headers: response.headers, body: parsed as T };
  }

  get<T = any>(path: string) {
    return this.request<T>('GET', path);
  }

  post<T = any>(path: string, body?: unknown, headers?: Record<string, string>) {
    return this.request<T>('POST', path, body, headers);
  }

  put<T = any>(path: string, body?: unknown) {
    return this.request<T>('PUT', path, body);
  }

  /**
   * POSTs a body whose Content-Length is over the server's limit, the way a client sees the
   * refusal: the server answers 413 from the headers and closes the connection, so a client that
   * kept uploading races its own EPIPE against reading that answer. This sends the headers and a
   * first slice of the body, then waits for the answer (and the server must not need the rest).
   */
  postOversized<T = any>(path: string, body: string): Promise<JsonResponse<T>> {
    return new Promise((resolve, reject) => {
      const bytes = Buffer.from(body);
      const req = httpRequest(`${this.baseUrl}${path}`, {
        method: 'POST',
        headers: {
          ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
          'content-type': 'application/json',
          'content-length': bytes.length,
        },
      });
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          req.destroy();
          const text = Buffer.concat(chunks).toString('utf8');
          const headers = new Headers();
          for (const [name, value] of Object.entries(res.headers)) {
            if (typeof value === 'string') headers.set(name, value);
          }
          resolve({ status: res.statusCode ?? 0, headers, body: (text ? JSON.parse(text) : undefined) as T });
        });
      });
      req.on('error', reject);
      req.write(bytes.subarray(0, 16 * 1024));
    });
  }

  patch<T = any>(path: string, body?: unknown) {
    return this.request<T>('PATCH', path, body);
  }

  delete<T = any>(path: string) {
    return this.request<T>('DELETE', path);
  }
}
