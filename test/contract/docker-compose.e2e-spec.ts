import { INGEST_NODE_ARGS, USAGE_WORKER_ENV, USAGE_WORKER_NODE_ARGS } from '@app/config';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

const ROOT = join(__dirname, '..', '..');

interface Service {
  command?: string[];
  environment?: Record<string, string | number | boolean | null>;
  ports?: Array<string | { target: number; published: string | number; host_ip?: string }>;
  healthcheck?: { test?: string[] };
}

/** Docker Compose v2 (`docker compose`) where installed, else v1 (`docker-compose`, Debian's package). */
function composeCommand(): string[] {
  const v2 = spawnSync('docker', ['compose', 'version'], { encoding: 'utf8' });
  return v2.status === 0 ? ['docker', 'compose'] : ['docker-compose'];
}

/**
 * docker-compose.yml as Compose itself reads it: validated against Compose's schema, anchors
 * merged and `${VAR:-default}` filled in from a bare environment, as on a fresh machine. Needs no
 * Docker engine. No container is started here (there is no engine on the CI machine): this
 * checks the file the README's `docker compose up` reads, and that it agrees with the code.
 */
function resolvedCompose(): { services: Record<string, Service> } {
  const [command, ...args] = composeCommand();
  const result = spawnSync(command, [...args, '--file', 'docker-compose.yml', 'config'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '' },
    encoding: 'utf8',
  });
  if (result.error)
    throw new Error(`${command} is not installed (README Requirements): ${result.error.message}`);
  if (result.status !== 0) throw new Error(`compose config failed: ${result.stderr}`);
  return parse(result.stdout) as { services: Record<string, Service> };
}

/** Compose writes `KEY: value`; the apps read strings, as from a real environment. */
function environmentOf(service: Service): Record<string, string> {
  return Object.fromEntries(
    Object.entries(service.environment ?? {}).map(([key, value]) => [
      key,
      value === null ? '' : String(value),
    ]),
  );
}

const CONFIG_MODULE = 'dist/libs/config/src/index.js';

/**
 * The problems the schema finds in `environment`, read in a process of its own with only that
 * environment, as the container starts: the schemas read NODE_ENV when loaded (production asks
 * for the secrets that have development defaults elsewhere), so parsing here, under the test
 * runner's NODE_ENV, would miss what a container refuses.
 */
function configIssues(environment: Record<string, string>, module: string, schema: string): unknown[] {
  const script = `const issues = require(${JSON.stringify(join(ROOT, module))}).${schema}.safeParse(process.env);
    process.stdout.write(JSON.stringify(issues.success ? [] : issues.error.issues.map((i) => i.path.join('.') + ': ' + i.message)));`;
  const result = spawnSync(process.execPath, ['-e', script], {
    env: { PATH: process.env.PATH ?? '', ...environment },
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`reading ${schema}: ${result.stderr}`);
  return JSON.parse(result.stdout) as unknown[];
}

describe('docker-compose.yml', () => {
  let services: Record<string, Service>;

  beforeAll(() => {
    services = resolvedCompose().services;
  });

  /** Each service with the compiled module and export of the schema its configuration is read with. */
  const apps: Array<[string, string, string]> = [
    ['migrate', CONFIG_MODULE, 'baseEnvSchema'],
    ['ingest', CONFIG_MODULE, 'ingestEnvSchema'],
    ['api', CONFIG_MODULE, 'apiEnvSchema'],
    ['usage-worker', CONFIG_MODULE, 'workerEnvSchema'],
    ['background-worker', CONFIG_MODULE, 'workerEnvSchema'],
    ['stripe-server', 'dist/apps/stripe-server/src/stripe-server.config.js', 'stripeServerEnvSchema'],
  ];

  it.each(apps)('gives %s an environment its configuration accepts', (name, module, schema) => {
    expect(configIssues(environmentOf(services[name]), module, schema)).toEqual([]);
  });

  it('keeps the payment and storage keys out of the usage worker, which never calls Stripe or S3', () => {
    const secrets = [
      'STRIPE_SECRET_KEY',
      'STRIPE_WEBHOOK_SECRET',
      'S3_ACCESS_KEY_ID',
      'S3_SECRET_ACCESS_KEY',
    ];
    for (const secret of secrets) {
      expect(environmentOf(services['usage-worker'])).not.toHaveProperty(secret);
      expect(environmentOf(services['background-worker'])).toHaveProperty(secret);
    }
  });

  it.each(apps.map(([name]) => name))('starts %s from a file the build writes', (name) => {
    const command = services[name].command ?? [];
    expect(command[0]).toBe('node');
    expect(existsSync(join(ROOT, command[command.length - 1]))).toBe(true);
  });

  it.each([
    ['usage-worker', USAGE_WORKER_NODE_ARGS, 'usage-worker'],
    ['background-worker', USAGE_WORKER_NODE_ARGS, 'usage-worker'],
    ['ingest', INGEST_NODE_ARGS, 'ingest'],
  ])('starts %s with the flags npm start gives it (its heap limit)', (name, nodeArgs, app) => {
    expect(services[name].command).toEqual(['node', ...nodeArgs, `dist/apps/${app}/src/main.js`]);
  });

  it.each([
    ['usage-worker', 'usage'],
    ['background-worker', 'background'],
  ])('gives %s the role and environment npm start gives it (its malloc arenas)', (name, role) => {
    expect(environmentOf(services[name])).toMatchObject({ ...USAGE_WORKER_ENV, WORKER_ROLE: role });
  });

  it.each([
    ['ingest', 'INGEST_PORT'],
    ['api', 'API_PORT'],
    ['usage-worker', 'WORKER_METRICS_PORT'],
    ['background-worker', 'WORKER_METRICS_PORT'],
    ['stripe-server', 'STRIPE_SERVER_PORT'],
  ])('publishes %s on the port it listens on, and checks its health there', (name, variable) => {
    const service = services[name];
    const port = Number(environmentOf(service)[variable]);
    const targets = (service.ports ?? []).map((mapping) =>
      // v1 writes "127.0.0.1:3000:3000/tcp", v2 an object.
      typeof mapping === 'string' ? Number(mapping.split(':').pop()?.split('/')[0]) : mapping.target,
    );
    expect(targets).toEqual([port]);
    expect(service.healthcheck?.test?.join(' ')).toContain(`http://127.0.0.1:${port}/health`);
  });

  it('runs Redis with AOF fsynced every second and without eviction (queued usage survives)', () => {
    const command = (services.redis.command ?? []).join(' ');
    expect(command).toContain('--appendonly yes');
    expect(command).toContain('--appendfsync everysec');
    expect(command).toContain('--maxmemory-policy noeviction');
  });
});
