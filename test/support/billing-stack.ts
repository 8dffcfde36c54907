import { randomUUID } from 'node:crypto';
import { ApiClient } from './api-client';
import { AppProcess } from './app-process';
import { TestStores } from './test-stores';
import { waitFor } from './wait-for';

export interface StackOptions {
  workers?: number;
  env?: Record<string, string>;
  workerEnv?: Record<string, string>;
  redisUrl?: string;
}

/**
 * The whole pipeline for one suite: its own database and Redis prefix, and ingest, api and
 * usage-worker as real processes. Helpers create accounts and prices through the admin API.
 */
export class BillingStack {
  readonly stores: TestStores;
  ingest!: AppProcess;
  api!: AppProcess;
  workers: AppProcess[] = [];
  gateway!: ApiClient;
  admin!: ApiClient;

  constructor(private readonly options: StackOptions = {}) {
    this.stores = new TestStores(options.redisUrl);
  }

  async start(): Promise<this> {
    await this.stores.setUp();
    const env = this.stores.env({ RECONCILE_INTERVAL_MS: '0', ...this.options.env });
    this.ingest = new AppProcess('ingest', env);
    this.api = new AppProcess('api', env);
    for (let i = 0; i < (this.options.workers ?? 1); i++) {
      this.workers.push(
        new AppProcess('usage-worker', { ...env, USAGE_LOCK_DURATION_MS: '3000', ...this.options.workerEnv }),
      );
    }
    await Promise.all([
      this.ingest.start(),
      this.api.start(),
      ...this.workers.map((worker) => worker.start()),
    ]);
    this.gateway = new ApiClient(this.ingest.url);
    this.admin = new ApiClient(this.api.url).admin();
    return this;
  }

  async stop(): Promise<void> {
    await Promise.all([this.ingest, this.api, ...this.workers].filter(Boolean).map((app) => app.stop()));
    await this.stores.tearDown();
  }

  async createAccount(tier: 'free' | 'developer' | 'enterprise' = 'developer'): Promise<string> {
    const response = await this.admin.post('/v1/admin/accounts', {
      name: `acct ${randomUUID().slice(0, 8)}`,
      email: 'owner@example.test',
      tier,
    });
    if (response.status !== 201)
      throw new Error(`create account: ${response.status} ${JSON.stringify(response.body)}`);
    return response.body.id;
  }

  async grant(accountId: string, amount: string, key = randomUUID()): Promise<void> {
    const response = await this.admin.post(
      `/v1/admin/accounts/${accountId}/credit-grants`,
      { amount, reason: 'test' },
      { 'idempotency-key': key },
    );
    if (response.status !== 201)
      throw new Error(`grant: ${response.status} ${JSON.stringify(response.body)}`);
  }

  async setPrice(
    model: string,
    prompt: string,
    completion: string,
    extra: Record<string, string> = {},
  ): Promise<void> {
    const response = await this.admin.put(`/v1/admin/models/${encodeURIComponent(model)}`, {
      prompt_price_per_mtok: prompt,
      completion_price_per_mtok: completion,
      effective_from: new Date(Date.now() - 36 * 24 * 3600_000).toISOString(),
      ...extra,
    });
    if (response.status !== 200 && response.status !== 201) {
      throw new Error(`set price: ${response.status} ${JSON.stringify(response.body)}`);
    }
  }

  /** Waits until every accepted usage batch has been processed (the queue is empty). */
  async drained(timeoutMs = 60_000): Promise<void> {
    await waitFor(
      () => this.stores.usageJobsOutstanding(),
      (count) => count === 0,
      {
        timeoutMs,
        what: 'the usage queue to drain',
      },
    );
  }
}
