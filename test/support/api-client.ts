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
   * POSTs a body the server may refuse before reading it all (413): the server answers and closes
   * the connection, so the rest of the upload fails with EPIPE or ECONNRESET. fetch reports only
   * that failure; this keeps the answer, as a gateway reading the response would.
   */
  postOversized<T = any>(path: string, body: string): Promise<JsonResponse<T>> {
    return new Promise((resolve, reject) => {
      const req = httpRequest(`${this.baseUrl}${path}`, {
        method: 'POST',
        headers: {
          ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      });
      let answered = false;
      req.on('response', (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const headers = new Headers();
          for (const [name, value] of Object.entries(res.headers)) {
            if (typeof value === 'string') headers.set(name, value);
          }
          resolve({ status: res.statusCode ?? 0, headers, body: (text ? JSON.parse(text) : undefined) as T });
        });
      });
      req.on('error', (error) => {
        if (!answered) reject(error);
      });
      req.end(body);
    });
  }

  patch<T = any>(path: string, body?: unknown) {
    return this.request<T>('PATCH', path, body);
  }

  delete<T = any>(path: string) {
    return this.request<T>('DELETE', path);
  }
}
