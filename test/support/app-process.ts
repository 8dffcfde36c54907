import { ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { StopWaiting, waitFor } from './wait-for';

export type AppName = 'ingest' | 'api' | 'usage-worker';

const ROOT = join(__dirname, '..', '..');
const PORT_VARIABLE: Record<AppName, string> = {
  ingest: 'INGEST_PORT',
  api: 'API_PORT',
  'usage-worker': 'WORKER_METRICS_PORT',
};

/**
 * Node arguments and environment that make an app the tests start stop itself when the test
 * runner that started it is gone (killed mid-run, e.g. a CI run stopped by hand): as start-all's
 * apps do when start-all dies (scripts/exit-with-supervisor). Without it such apps run on under
 * init, polling Redis and Postgres, and skew whatever runs next on the machine (a benchmark).
 */
export const STOP_WITH_TEST_RUNNER = {
  args: ['--require', join(ROOT, 'dist', 'scripts', 'exit-with-supervisor.js')],
  env: { BILLING_SUPERVISOR_PID: String(process.pid), BILLING_ORPHAN_STOP_TIMEOUT_MS: '5000' },
};

/** Ports this test file has handed out: a suite starts several servers one after another. */
const handedOut = new Set<number>();

/**
 * A port no other server of this test file was given. The OS may return a port it just gave
 * (and we closed) to the next bind(0): a stack that reserves the api's port and then starts the
 * Stripe server got that same port for both, and the api's requests were answered by the Stripe
 * server.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await ephemeralPort();
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    return port;
  }
}

async function ephemeralPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/**
 * The fields of a /proc stat file after the command name (field 2, which may hold spaces), so that
 * index 0 is field 3 (state), 1 the parent pid, 16 the nice value.
 */
export function procStatFields(statPath: string): string[] {
  return readFileSync(statPath, 'utf8').split(') ')[1].split(' ');
}

/** Our apps' readiness answer (libs/metrics HealthController): Redis and Postgres both reachable. */
export function isReadyBody(body: string): boolean {
  try {
    const { checks } = JSON.parse(body) as { checks?: { redis?: string; postgres?: string } };
    return checks?.redis === 'ok' && checks.postgres === 'ok';
  } catch {
    return false;
  }
}

/** One of our apps as a real child process (compiled output in dist/), on a port of its own. */
export class AppProcess {
  private child: ChildProcess | null = null;
  private exited: Promise<number | null> = Promise.resolve(null);
  output = '';
  port = 0;

  constructor(
    readonly app: AppName,
    private readonly env: Record<string, string>,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Starts the process and waits until /health/ready answers 200 with our apps' readiness body. */
  async start(extraEnv: Record<string, string> = {}): Promise<this> {
    if (!this.port) this.port = await freePort();
    const main = join(ROOT, 'dist', 'apps', this.app, 'src', 'main.js');
    const child = spawn(process.execPath, [...STOP_WITH_TEST_RUNNER.args, main], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        ...STOP_WITH_TEST_RUNNER.env,
        ...this.env,
        ...extraEnv,
        [PORT_VARIABLE[this.app]]: String(this.port),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    child.stdout?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    await waitFor(
      async () => {
        // At once, with its output: not a 90 s timeout that hides why.
        if (child.exitCode !== null || child.signalCode !== null)
          throw new StopWaiting(`${this.app} exited (${child.exitCode ?? child.signalCode}): ${this.output}`);
        const response = await fetch(`${this.url}/health/ready`);
        return { status: response.status, body: await response.text() };
      },
      // The body too (libs/metrics HealthController's): a foreign server that took the port (see
      // freePort) may answer 200 as well.
      ({ status, body }) => status === 200 && isReadyBody(body),
      // Generous: on a loaded 2-core machine an app can take half a minute to boot.
      { timeoutMs: 90_000, what: `${this.app} to be ready` },
    );
    return this;
  }

  /** Resolves when the process has exited by itself (e.g. a failpoint killed it). */
  async waitForExit(timeoutMs = 60_000): Promise<number | null> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        this.exited,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`${this.app} did not exit`)), timeoutMs);
        }),
      ]);
    } finally {
      // A timer left pending kept Jest's process alive for a minute after the last suite.
      clearTimeout(timer);
    }
  }

  /** The nice value of each of the process's threads (Linux /proc). */
  threadNiceValues(): number[] {
    const pid = this.child?.pid;
    if (!pid) return [];
    return readdirSync(`/proc/${pid}/task`).map((tid) =>
      Number(procStatFields(`/proc/${pid}/task/${tid}/stat`)[16]),
    );
  }

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (!this.child || !this.running) return;
    this.child.kill(signal);
    await this.exited;
  }

  kill(): Promise<void> {
    return this.stop('SIGKILL');
  }
}
