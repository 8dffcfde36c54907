import { randomUUID } from 'node:crypto';
import { ApiClient } from './api-client';
import { BillingStack } from './billing-stack';

export interface CreatedKey {
  id: string;
  /** The whole secret, shown once. */
  key: string;
  body: any;
}

function expectStatus(what: string, response: { status: number; body: unknown }, status: number): void {
  if (response.status !== status)
    throw new Error(`${what}: ${response.status} ${JSON.stringify(response.body)}`);
}

/** Workspace set-up through the public API (apps/api), as the admin token. */
export class Workspace {
  constructor(
    readonly stack: BillingStack,
    readonly accountId: string,
  ) {}

  static async create(stack: BillingStack, tier: 'free' | 'developer' | 'enterprise' = 'developer') {
    return new Workspace(stack, await stack.createAccount(tier));
  }

  get path(): string {
    return `/v1/accounts/${this.accountId}`;
  }

  async createKey(options: Record<string, unknown> = {}): Promise<CreatedKey> {
    const response = await this.stack.admin.post(`${this.path}/api-keys`, {
      name: `key ${randomUUID().slice(0, 8)}`,
      ...options,
    });
    expectStatus('create key', response, 201);
    return { id: response.body.id, key: response.body.key, body: response.body };
  }

  async createProject(name = `project ${randomUUID().slice(0, 8)}`): Promise<string> {
    const response = await this.stack.admin.post(`${this.path}/projects`, { name });
    expectStatus('create project', response, 201);
    return response.body.id;
  }

  async addMember(email: string, role: 'admin' | 'billing' | 'member'): Promise<string> {
    const response = await this.stack.admin.post(`${this.path}/members`, { email, role });
    expectStatus('add member', response, 201);
    return response.body.id;
  }

  /** Records an offline purchase (counts as bought credits, e.g. for free-model daily limits). */
  async purchase(amount: string): Promise<void> {
    const response = await this.stack.admin.post(
      `/v1/admin/accounts/${this.accountId}/credit-grants`,
      { amount, reason: 'wire transfer', kind: 'purchase' },
      { 'idempotency-key': randomUUID() },
    );
    expectStatus('purchase', response, 201);
  }

  /** Clients of the api and ingest apps acting with an API key. */
  asKey(key: string): { api: ApiClient; ingest: ApiClient } {
    return { api: new ApiClient(this.stack.api.url, key), ingest: new ApiClient(this.stack.ingest.url, key) };
  }
}
