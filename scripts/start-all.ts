/**
 * `npm start`: runs ingest, api, the usage worker, the background worker (and the Stripe test server) as
 * one supervised group (after build and migrate). A crashed app is restarted, however often
 * (RestartBackoff); SIGINT/SIGTERM stop every app and wait for them.
 * Docker and production run each app as its own process instead (docker-compose.yml).
 */
import {
  apiEnvSchema,
  ingestEnvSchema,
  loadConfig,
  INGEST_NODE_ARGS,
  USAGE_WORKER_ENV,
  USAGE_WORKER_NODE_ARGS,
  workerEnvSchema,
} from '@app/config';
import concurrently from 'concurrently';
import { join } from 'node:path';
import { assertDistinctPorts, backgroundWorkerPort } from './app-ports';
import { APP_STOP_TIMEOUT_MS, SUPERVISOR_PID_ENV } from './exit-with-supervisor';
import { RestartBackoff } from './restart-backoff';

/** Compiled to dist/scripts/, so the repository root is two levels up. */
const ROOT = join(__dirname, '..', '..');

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
const PARENT_CHECK_MS = 500;

/** `args`: run this script (relative to the repository root) instead of the app's dist main.js; `nodeArgs`: V8/Node flags before it. */
const APPS: {
  name: string;
  color: string;
  env?: Record<string, string>;
  args?: string[];
  nodeArgs?: readonly string[];
}[] = [
  { name: 'ingest', color: 'cyan', nodeArgs: INGEST_NODE_ARGS },
  { name: 'api', color: 'magenta' },
  {
    name: 'usage-worker',
    color: 'yellow',
    nodeArgs: USAGE_WORKER_NODE_ARGS,
    env: { ...USAGE_WORKER_ENV, WORKER_ROLE: 'usage' },
  },
];

/** With the default STRIPE_API_URL (this machine), the group also runs the Stripe-compatible test server. */
function usesLocalStripeServer(url: string): boolean {
  return url !== '' && ['127.0.0.1', 'localhost'].includes(new URL(url).hostname);
}

/** With the default S3_ENDPOINT (this machine), the group also runs s3rver on a folder under .data/. */
function usesLocalS3(endpoint: string): boolean {
  return endpoint !== '' && ['127.0.0.1', 'localhost'].includes(new URL(endpoint).hostname);
}

/** The port a local URL names (80 when it names none, as for the apps started on it). */
function localPort(url: string): number {
  return Number(new URL(url).port || '80');
}

function shellQuote(value: string): string {
  return /^[\w./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

function describeEndpoints(): string[] {
  // Validates each app's config once here, so a bad variable is reported before anything starts.
  const ingest = loadConfig(ingestEnvSchema);
  const api = loadConfig(apiEnvSchema);
  const worker = loadConfig(workerEnvSchema);
  const backgroundPort = backgroundWorkerPort(worker.WORKER_METRICS_PORT);
  // The same app as the usage worker, running every other job (auto-reloads, invoice PDFs, alert
  // emails, maintenance), so none of them shares the metering process or its memory.
  APPS.push({
    name: 'background-worker',
    color: 'white',
    nodeArgs: USAGE_WORKER_NODE_ARGS,
    args: [join('dist', 'apps', 'usage-worker', 'src', 'main.js')],
    env: {
      ...USAGE_WORKER_ENV,
      WORKER_ROLE: 'background',
      WORKER_METRICS_PORT: String(backgroundPort),
    },
  });
  if (usesLocalStripeServer(api.STRIPE_API_URL)) {
    const stripeUrl = new URL(api.STRIPE_API_URL);
    APPS.push({
      name: 'stripe-server',
      color: 'green',
      env: {
        STRIPE_SERVER_HOST: stripeUrl.hostname,
        STRIPE_SERVER_PORT: String(localPort(api.STRIPE_API_URL)),
        // Webhooks go to the api app, signed with the secret the api checks.
        STRIPE_WEBHOOK_URL:
          process.env.STRIPE_WEBHOOK_URL ?? `http://${api.HOST}:${api.API_PORT}/webhooks/stripe`,
        STRIPE_WEBHOOK_SECRET: api.STRIPE_WEBHOOK_SECRET,
      },
    });
  }
  if (usesLocalS3(api.S3_ENDPOINT)) {
    const s3Url = new URL(api.S3_ENDPOINT);
    const s3Port = String(localPort(api.S3_ENDPOINT));
    // s3rver accepts its fixed S3RVER key pair; --configure-bucket creates the bucket unless it exists.
    APPS.push({
      name: 's3rver',
      color: 'blue',
      args: [
        join('node_modules', 's3rver', 'bin', 's3rver.js'),
        ...['--directory', join('.data', 's3'), '--address', s3Url.hostname, '--port', s3Port],
        ...['--silent', '--configure-bucket', api.S3_BUCKET],
      ],
    });
  }
  assertDistinctPorts({
    ingest: ingest.INGEST_PORT,
    api: api.API_PORT,
    'usage-worker': worker.WORKER_METRICS_PORT,
    'background-worker': backgroundPort,
    ...(usesLocalStripeServer(api.STRIPE_API_URL) && { 'stripe-server': localPort(api.STRIPE_API_URL) }),
    ...(usesLocalS3(api.S3_ENDPOINT) && { s3rver: localPort(api.S3_ENDPOINT) }),
  });
  return [
    `ingest        http://${ingest.HOST}:${ingest.INGEST_PORT}  (docs /docs, metrics /metrics, health /health)`,
    `api           http://${api.HOST}:${api.API_PORT}  (docs /docs, metrics /metrics, health /health)`,
    `usage-worker  http://${worker.WORKER_METRICS_HOST}:${worker.WORKER_METRICS_PORT}  (metrics /metrics, health /health)`,
    `background    http://${worker.WORKER_METRICS_HOST}:${backgroundPort}  (worker for payments, invoices, emails, maintenance; metrics /metrics, health /health)`,
    api.STRIPE_API_URL
      ? `stripe        ${api.STRIPE_API_URL}${usesLocalStripeServer(api.STRIPE_API_URL) ? "  (the repo's Stripe-compatible test server)" : ''}`
      : 'stripe        api.stripe.com',
    `s3            ${api.S3_ENDPOINT || 'AWS S3'} bucket ${api.S3_BUCKET}${usesLocalS3(api.S3_ENDPOINT) ? '  (local s3rver, files in .data/s3)' : ''}`,
  ];
}

function main(): void {
  process.title = 'billing-start-all';
  // With the terminal or parent gone, a write error must not crash us before the apps are stopped.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
  for (const line of describeEndpoints()) console.log(`[start-all] ${line}`);
  // Each app stops itself once we are gone, even when we could not stop it (SIGKILL).
  process.env[SUPERVISOR_PID_ENV] = String(process.pid);
  const exitWithSupervisor = ['--require', join(__dirname, 'exit-with-supervisor.js')];

  const { commands, result } = concurrently(
    APPS.map((app) => ({
      name: app.name,
      prefixColor: app.color,
      // exec: the app replaces the shell, so signals reach Node directly.
      command: `exec ${[
        process.execPath,
        ...exitWithSupervisor,
        ...(app.nodeArgs ?? []),
        ...(app.args ?? [join('dist', 'apps', app.name, 'src', 'main.js')]),
      ]
        .map(shellQuote)
        .join(' ')}`,
      env: app.env,
    })),
    // No restartTries: concurrently's give up after a count, and its exponential delay has no cap.
    { cwd: ROOT, prefix: 'name', padPrefix: true },
  );
  // Settles when every app has closed at once; the exit code is decided below.
  result.then(
    () => undefined,
    () => undefined,
  );

  let stopping = false;

  const stopAll = (reason: string, exitCode: number): void => {
    if (stopping) return;
    stopping = true;
    console.log(`[start-all] ${reason}; stopping all apps`);
    // An app stopped by a signal exits non-zero: no restart, not even one already scheduled.
    for (const command of commands) command.start = () => undefined;
    for (const command of commands) command.kill('SIGTERM');

    const forceKill = setTimeout(() => {
      for (const command of commands) {
        if (command.state === 'started') {
          console.log(
            `[start-all] ${command.name} did not stop within ${APP_STOP_TIMEOUT_MS} ms; killing it`,
          );
          command.kill('SIGKILL');
        }
      }
      exitCode = 1;
    }, APP_STOP_TIMEOUT_MS);
    const poll = setInterval(() => {
      if (commands.some((command) => command.state === 'started')) return;
      clearInterval(poll);
      clearTimeout(forceKill);
      process.exit(exitCode);
    }, 100);
  };

  // concurrently forwards these signals to the apps too, but no longer once every app was down at the
  // same moment (its result settled): a second signal is ignored by an app already stopping.
  for (const signal of SIGNALS) process.on(signal, () => stopAll(`received ${signal}`, 0));

  // `npm start` runs us under `sh -c`, and npm passes a SIGTERM to that shell only, which dies
  // without passing it on. Being re-parented means whoever started us is gone: stop with it.
  const parentPid = process.ppid;
  setInterval(() => {
    if (process.ppid !== parentPid) stopAll('parent process exited', 0);
  }, PARENT_CHECK_MS).unref();

  // An app that exits 0 meant to stop, and the group stops with it; any other exit (a crash, a
  // kill) is restarted.
  for (const command of commands) {
    const backoff = new RestartBackoff();
    command.close.subscribe(({ exitCode, timings }) => {
      if (stopping) return;
      if (exitCode === 0) {
        stopAll(`${command.name} exited (0) and will not be restarted`, 1);
        return;
      }
      const delayMs = backoff.next(timings.durationSeconds * 1000);
      console.log(`[start-all] ${command.name} exited (${exitCode}); restarting it in ${delayMs / 1000} s`);
      setTimeout(() => {
        if (!stopping) command.start();
      }, delayMs);
    });
  }
}

try {
  main();
} catch (error) {
  console.error(`[start-all] ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
