import { ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Stripe from 'stripe';
import { ApiClient } from './api-client';
import { AppProcess, freePort, STOP_WITH_TEST_RUNNER } from './app-process';
import { S3TestServer } from './s3-server';
import { SmtpSink } from './smtp-sink';
import { TestStores } from './test-stores';
import { waitFor } from './wait-for';

export interface StackOptions {
  workers?: number;
  env?: Record<string, string>;
  workerEnv?: Record<string, string>;
  /** Settings of the api process only, over `env` (e.g. its REDIS_URL through a TcpProxy). */
  apiEnv?: Record<string, string>;
  redisUrl?: string;
  /** `redisUrl` names a node of a Redis Cluster (REDIS_CLUSTER=true for the apps). */
  redisCluster?: boolean;
  /**
   * Also run the Stripe-compatible test server (apps/stripe-server) as a process of the stack,
   * with its webhooks going to the api app, and point api and workers at it.
   */
  stripe?: boolean;
  /** Extra settings of that stripe server (apps/stripe-server/README.md), e.g. STRIPE_WEBHOOK_DUPLICATE_DELIVERY. */
  stripeServerEnv?: Record<string, string>;
  /** Also run a local S3 (s3rver, test/support/s3-server.ts) and point api and workers at it. */
  s3?: boolean;
  /**
   * Also run a real SMTP server (test/support/smtp-sink.ts) and point the workers' alert emails at
   * it. Without it, workers write alert emails to an outbox folder of the stack's own (removed on stop).
   */
  smtp?: boolean;
}

/** Shared by the stripe server (signing) and the apps (verifying). */
export const STACK_WEBHOOK_SECRET = 'whsec_billing_stack_test_secret';
const STACK_STRIPE_KEY = 'sk_test_billing_stack_0123456789';

/** The compiled stripe-server app as a child process on a free port, as npm start runs it. */
export class StripeServerProcess {
  private child: ChildProcess | null = null;
  private exited: Promise<unknown> = Promise.resolve();
  output = '';
  port = 0;

  constructor(private readonly env: Record<string, string>) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    if (!this.port) this.port = await freePort();
    const main = join(__dirname, '..', '..', 'dist', 'apps', 'stripe-server', 'src', 'main.js');
    const child = spawn(process.execPath, [...STOP_WITH_TEST_RUNNER.args, main], {
      env: {
        PATH: process.env.PATH ?? '',
        ...STOP_WITH_TEST_RUNNER.env,
        ...this.env,
        STRIPE_SERVER_HOST: '127.0.0.1',
        STRIPE_SERVER_PORT: String(this.port),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    child.stdout?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.exited = new Promise((resolve) => child.once('exit', resolve));
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`stripe-server exited: ${this.output}`);
        return (await fetch(`${this.url}/health/ready`)).status;
      },
      (status) => status === 200,
      { what: 'stripe-server to be ready' },
    );
    return this;
  }

  async stop(): Promise<void> {
    if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    await this.exited;
  }
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
  /** Set with `stripe: true`. */
  stripeServer: StripeServerProcess | null = null;
  /** Set with `s3: true`; `s3.storage` reads back what the apps stored. */
  s3: S3TestServer | null = null;
  /** Set with `smtp: true`: every email the workers sent. */
  smtp: SmtpSink | null = null;
  private outboxDir: string | null = null;
  gateway!: ApiClient;
  admin!: ApiClient;
  /** The environment every app of the stack got (stores, Stripe, options.env), e.g. to start another worker. */
  appEnv: Record<string, string> = {};

  constructor(private readonly options: StackOptions = {}) {
    this.stores = new TestStores(options.redisUrl, options.redisCluster);
  }

  async start(): Promise<this> {
    await this.stores.setUp();
    const apiPort = await freePort();
    let stripeEnv: Record<string, string> = {};
    if (this.options.stripe) {
      this.stripeServer = await new StripeServerProcess({
        STRIPE_WEBHOOK_URL: `http://127.0.0.1:${apiPort}/webhooks/stripe`,
        STRIPE_WEBHOOK_SECRET: STACK_WEBHOOK_SECRET,
        ...this.options.stripeServerEnv,
      }).start();
      stripeEnv = {
        STRIPE_API_URL: this.stripeServer.url,
        STRIPE_SECRET_KEY: STACK_STRIPE_KEY,
        STRIPE_WEBHOOK_SECRET: STACK_WEBHOOK_SECRET,
      };
    }
    if (this.options.s3) this.s3 = await new S3TestServer().start();
    // Without `s3: true` the apps get a closed port rather than the `npm start` default, so a suite
    // never writes into a developer's local S3.
    const s3Env = this.s3?.env() ?? { S3_ENDPOINT: 'http://127.0.0.1:9' };
    if (this.options.smtp) this.smtp = await new SmtpSink().start();
    else this.outboxDir = await mkdtemp(join(tmpdir(), 'billing-outbox-'));
    const mailEnv = this.smtp?.env() ?? { MAIL_OUTBOX_DIR: this.outboxDir! };
    const env = this.stores.env({
      RECONCILE_INTERVAL_MS: '0',
      ...stripeEnv,
      ...s3Env,
      ...mailEnv,
      ...this.options.env,
    });
    this.appEnv = env;
    this.ingest = new AppProcess('ingest', env);
    this.api = new AppProcess('api', { ...env, ...this.options.apiEnv });
    this.api.port = apiPort;
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
    await this.stripeServer?.stop();
    await this.s3?.stop();
    await this.smtp?.stop();
    if (this.outboxDir) await rm(this.outboxDir, { recursive: true, force: true });
    await this.stores.tearDown();
  }

  /** The official SDK pointed at the stack's stripe server (`stripe: true`), as Stripe.js or a test would use it. */
  stripeClient(): Stripe {
    if (!this.stripeServer) throw new Error('start the stack with { stripe: true }');
    return new Stripe(STACK_STRIPE_KEY, {
      telemetry: false,
      host: '127.0.0.1',
      port: this.stripeServer.port,
      protocol: 'http',
    });
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
