import { ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { USAGE_WORKER_ENV } from '@app/config';
import { backgroundWorkerPort } from '../../scripts/app-ports';
import { ApiClient } from '../support/api-client';
import { freePort, isReadyBody, procStatFields } from '../support/app-process';
import { OwnRedisServer } from '../support/redis-server';
import { TestStores } from '../support/test-stores';
import { waitFor } from '../support/wait-for';

const ROOT = join(__dirname, '..', '..');
const START_ALL = join(ROOT, 'dist', 'scripts', 'start-all.js');
const MODEL = 'acme/started';

/** The pids whose parent is `parent`, with their process titles (Linux /proc; our apps set theirs). */
function childrenOf(parent: number): { pid: number; title: string }[] {
  const children: { pid: number; title: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (Number(procStatFields(`/proc/${entry}/stat`)[1]) !== parent) continue;
      const title = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      children.push({ pid: Number(entry), title });
    } catch {
      // The process ended while we looked.
    }
  }
  return children;
}

/** Running, not a zombie: an orphan's exit is reaped by init, which here may never reap it. */
function alive(pid: number): boolean {
  try {
    return procStatFields(`/proc/${pid}/stat`)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Our apps answer readiness with their checks; the Stripe-compatible server with a bare 200. */
async function ready(url: string, isReady: (body: string) => boolean = isReadyBody): Promise<boolean> {
  try {
    const response = await fetch(`${url}/health/ready`);
    return response.status === 200 && isReady(await response.text());
  } catch {
    return false;
  }
}

const url = (port: number) => `http://127.0.0.1:${port}`;

/** start-all runs the background worker's /metrics on the port after the usage worker's. */
const backgroundPort = (ports: StartedGroup['ports']) => backgroundWorkerPort(ports.worker);

/** scripts/start-all.js on the suite's stores and free ports, as `npm start` runs it; ready when start() returns. */
class StartedGroup {
  readonly stores: TestStores;
  readonly ports = { ingest: 0, api: 0, worker: 0, stripe: 0 };
  process!: ChildProcess;
  exited!: Promise<number | null>;
  private outbox = '';
  output = '';

  constructor(redisUrl?: string) {
    this.stores = new TestStores(redisUrl);
  }

  async start(): Promise<void> {
    await this.launch();
    await this.ready();
  }

  async launch(): Promise<void> {
    await this.stores.setUp();
    this.outbox = await mkdtemp(join(tmpdir(), 'billing-start-outbox-'));
    const { ports } = this;
    for (const name of Object.keys(ports) as (keyof typeof ports)[]) ports[name] = await freePort();
    // The background worker listens on the port after the usage worker's: not one handed to another app.
    while (Object.values(ports).includes(backgroundPort(ports))) ports.worker = await freePort();
    this.process = spawn(process.execPath, [START_ALL], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        ...this.stores.env({
          INGEST_PORT: String(ports.ingest),
          API_PORT: String(ports.api),
          WORKER_METRICS_PORT: String(ports.worker),
          // A local URL: the group runs the Stripe-compatible server there, as with the default.
          STRIPE_API_URL: url(ports.stripe),
          // Not local, so no s3rver writes into the checkout's .data/; nothing here renders a PDF.
          S3_ENDPOINT: 'http://s3.invalid:9000',
          MAIL_OUTBOX_DIR: this.outbox,
          RECONCILE_INTERVAL_MS: '0',
        }),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const group = this.process;
    group.stdout!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    group.stderr!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.exited = new Promise((resolve) => group.once('exit', (code) => resolve(code)));
  }

  /** Until every app of the group answers ready. */
  async ready(): Promise<void> {
    const { ports } = this;
    const group = this.process;
    await waitFor(
      async () => {
        if (group.exitCode !== null) throw new Error(`start-all exited: ${this.output}`);
        const apps = [ports.ingest, ports.api, ports.worker, backgroundPort(ports)].map((port) =>
          ready(url(port)),
        );
        const stripe = ready(url(ports.stripe), () => true);
        return (await Promise.all([...apps, stripe])).every(Boolean);
      },
      (allReady) => allReady,
      { timeoutMs: 90_000, what: 'every app of the group to be ready' },
    );
  }

  async stop(): Promise<void> {
    if (this.process && this.process.exitCode === null && this.process.signalCode === null) {
      this.process.kill('SIGTERM');
      await this.exited;
    }
    if (this.outbox) await rm(this.outbox, { recursive: true, force: true });
    await this.stores.tearDown();
  }
}

/** Usage sent to the group's ingest is charged by its worker and read back. */
async function chargesUsageEndToEnd(ports: StartedGroup['ports']): Promise<void> {
  const admin = new ApiClient(url(ports.api)).admin();
  const gateway = new ApiClient(url(ports.ingest));
  const account = (
    await admin.post('/v1/admin/accounts', {
      name: 'Started',
      email: 'owner@example.test',
      tier: 'developer',
    })
  ).body.id;
  const price = await admin.put(`/v1/admin/models/${encodeURIComponent(MODEL)}`, {
    prompt_price_per_mtok: '2.00',
    completion_price_per_mtok: '4.00',
    effective_from: new Date(Date.now() - 60_000).toISOString(),
  });
  expect(price.status).toBe(200);
  const grant = await admin.post(
    `/v1/admin/accounts/${account}/credit-grants`,
    { amount: '1', reason: 'start' },
    { 'idempotency-key': randomUUID() },
  );
  expect(grant.body).toEqual({ balance: '1.000000' });
  const sent = await gateway.post('/v1/usage/events', {
    events: [{ id: 'first', account_id: account, model: MODEL, prompt_tokens: 1000, completion_tokens: 500 }],
  });
  expect(sent.body).toEqual({ accepted: 1, duplicates: 0 });

  // 1,000 × $2 + 500 × $4 per million tokens = $0.004.
  await waitFor(
    async () => (await gateway.get(`/v1/accounts/${account}/balance`)).body.balance,
    (balance) => balance === '0.996000',
    { what: 'the worker to charge the event' },
  );
}

/**
 * `npm start` after its build and migration: scripts/start-all runs ingest, api, the usage worker
 * and (with the default local Stripe URL) the Stripe-compatible server as one supervised group.
 * README opens with it, so it is run here as a newcomer runs it: usage flows end to end, an app
 * that dies is started again, and Ctrl-C (SIGTERM) stops every app.
 */
describe('npm start (scripts/start-all.js)', () => {
  const started = new StartedGroup();
  const { ports } = started;
  let group: ChildProcess;
  let exited: Promise<number | null>;

  beforeAll(async () => {
    await started.start();
    ({ process: group, exited } = started);
  }, 120_000);

  afterAll(() => started.stop());

  it('runs the pipeline: usage sent to ingest is charged by the worker and read back', () =>
    chargesUsageEndToEnd(ports));

  it.each([
    ['billing-usage-worker', 'usage'],
    ['billing-background-worker', 'background'],
  ])('starts %s with its role and fewer malloc arenas (part of its memory budget, T5)', (title, role) => {
    const worker = childrenOf(group.pid!).find((child) => child.title === title);
    expect(worker).toBeDefined();
    const environment = readFileSync(`/proc/${worker!.pid}/environ`, 'utf8').split('\0');
    expect(environment).toEqual(
      expect.arrayContaining([
        `WORKER_ROLE=${role}`,
        ...Object.entries(USAGE_WORKER_ENV).map(([name, value]) => `${name}=${value}`),
      ]),
    );
  });

  it('starts an app again after it dies', async () => {
    const ingest = childrenOf(group.pid!).find((child) => child.title === 'billing-ingest');
    expect(ingest).toBeDefined();
    process.kill(ingest!.pid, 'SIGKILL');
    await waitFor(
      async () => {
        const again = childrenOf(group.pid!).find((child) => child.title === 'billing-ingest');
        return again && again.pid !== ingest!.pid && (await ready(url(ports.ingest)));
      },
      Boolean,
      { what: 'ingest to be restarted', timeoutMs: 60_000 },
    );
    expect(group.exitCode).toBeNull();
  });

  it('stops every app on SIGTERM and exits 0', async () => {
    const apps = childrenOf(group.pid!);
    expect(apps.map((app) => app.title).sort()).toEqual([
      'billing-api',
      'billing-background-worker',
      'billing-ingest',
      'billing-stripe-server',
      'billing-usage-worker',
    ]);
    group.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(apps.filter((app) => alive(app.pid))).toEqual([]);
    for (const port of [ports.ingest, ports.api, ports.worker, backgroundPort(ports), ports.stripe])
      expect(await ready(url(port), () => true)).toBe(false);
  });
});

/** A port setting that cannot work is refused with its reason before any app starts, not restarted forever. */
describe('npm start with ports that cannot work', () => {
  it.each([
    [{ WORKER_METRICS_PORT: '65535' }, 'WORKER_METRICS_PORT=65535 leaves no port for the background worker'],
    [
      { INGEST_PORT: '3902', WORKER_METRICS_PORT: '3901' },
      'two apps would listen on one port: ingest and background-worker on 3902',
    ],
  ])('refuses %j and starts nothing', async (ports, message) => {
    const group = spawn(process.execPath, [START_ALL], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', ...ports },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    group.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    group.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exitCode = await new Promise((resolve) => group.once('exit', resolve));
    expect(exitCode).toBe(1);
    expect(output).toContain(`[start-all] ${message}`);
    expect(output).not.toMatch(/\[(ingest|api|usage-worker|background-worker)\s*\]/);
  });
});

/**
 * A supervisor killed outright (SIGKILL, the OOM killer) cannot stop its apps: they notice they
 * were re-parented and stop themselves, freeing their ports for the next `npm start`.
 */
describe('npm start killed with SIGKILL', () => {
  const started = new StartedGroup();
  let apps: { pid: number; title: string }[] = [];

  beforeAll(() => started.start(), 120_000);

  afterAll(async () => {
    // Without the apps' own check they would outlive this suite: stop the ones it started.
    for (const app of apps.filter((app) => alive(app.pid))) process.kill(app.pid, 'SIGKILL');
    await started.stop();
  });

  it('leaves no app running and every port free', async () => {
    apps = childrenOf(started.process.pid!);
    expect(apps).toHaveLength(5);
    started.process.kill('SIGKILL');
    await started.exited;
    await waitFor(
      async () => apps.filter((app) => alive(app.pid)).map((app) => app.title),
      (running) => running.length === 0,
      { what: 'the apps to stop after their supervisor', timeoutMs: 30_000 },
    );
    const { ports } = started;
    for (const port of [ports.ingest, ports.api, ports.worker, backgroundPort(ports), ports.stripe])
      expect(await ready(url(port), () => true)).toBe(false);
  });
});

/**
 * An orphaned app whose graceful stop hangs (a connection that never closes) would keep its port
 * with nobody left to kill it: it exits by itself once start-all's grace period has passed.
 */
describe('an orphaned app whose graceful stop hangs', () => {
  let scratch: string;
  let appPid = 0;

  beforeAll(async () => (scratch = await mkdtemp(join(tmpdir(), 'billing-orphan-'))));

  afterAll(async () => {
    if (appPid && alive(appPid)) process.kill(appPid, 'SIGKILL');
    await rm(scratch, { recursive: true, force: true });
  });

  it('exits after the grace period when SIGTERM does not stop it', async () => {
    const termSeen = join(scratch, 'sigterm-seen');
    // The app ignores SIGTERM (only records it) and keeps a timer alive: a stop that never ends.
    const app = `process.on('SIGTERM', () => require('node:fs').writeFileSync(${JSON.stringify(termSeen)}, 'x'));
      setInterval(() => {}, 1000);`;
    // The stand-in supervisor starts the app as start-all does: preloaded module, its pid in the env.
    const supervisorScript = `const { spawn } = require('node:child_process');
      const child = spawn(process.execPath, ['--require', ${JSON.stringify(join(ROOT, 'dist', 'scripts', 'exit-with-supervisor.js'))}, '-e', ${JSON.stringify(app)}], {
        env: { ...process.env, BILLING_SUPERVISOR_PID: String(process.pid), BILLING_ORPHAN_STOP_TIMEOUT_MS: '1500' },
        stdio: 'ignore',
      });
      console.log(child.pid);
      setInterval(() => {}, 1000);`;
    const supervisor = spawn(process.execPath, ['-e', supervisorScript], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise((resolve) => supervisor.once('exit', resolve));
    appPid = Number(
      await new Promise<string>((resolve) =>
        supervisor.stdout!.once('data', (chunk: Buffer) => resolve(chunk.toString())),
      ),
    );
    expect(alive(appPid)).toBe(true);

    supervisor.kill('SIGKILL');
    await exited;
    await waitFor(() => existsSync(termSeen), Boolean, {
      what: 'the app to be sent SIGTERM',
      timeoutMs: 10_000,
    });
    // Still running after SIGTERM: only the grace period's exit can end it.
    expect(alive(appPid)).toBe(true);
    await waitFor(
      () => alive(appPid),
      (running) => !running,
      {
        what: 'the app to exit after the grace period',
        timeoutMs: 10_000,
      },
    );
  });
});

/**
 * A machine booting starts the group before Redis: the apps wait for it rather than crash, so the
 * group comes up once Redis does, with no app exited and restarted meanwhile.
 */
describe('npm start before Redis is up', () => {
  const redisServer = new OwnRedisServer();
  let started: StartedGroup;

  afterAll(async () => {
    await started?.stop();
    await redisServer.kill();
  });

  it('waits for Redis, then runs the pipeline, no app having exited', async () => {
    // Its address is known, nothing listens there yet.
    redisServer.port = await freePort();
    started = new StartedGroup(redisServer.url);
    await started.launch();
    await waitFor(
      () => started.output.match(/waiting for Redis at/g)?.length ?? 0,
      (apps) => apps === 3,
      { what: 'ingest, api and the worker to say they wait for Redis', timeoutMs: 60_000 },
    );
    // Longer than the 1-3 s after which an app used to crash on its first Redis command.
    await new Promise((resolve) => setTimeout(resolve, 6_000));
    await redisServer.start();
    await started.ready();

    expect(started.output).not.toMatch(/exited/);
    await chargesUsageEndToEnd(started.ports);
  });
});
