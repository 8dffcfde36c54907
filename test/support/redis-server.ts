import { ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { freePort } from './app-process';
import { waitFor } from './wait-for';

/**
 * A Redis server of the test's own, to restart empty without touching the shared one. With
 * `cluster`, it is a node of a Redis Cluster, by default a one-node cluster holding every slot: a
 * plain client works against it, and it refuses, as any Cluster does, a script or command whose
 * keys are in different slots.
 */
export class OwnRedisServer {
  private child: ChildProcess | null = null;
  port = 0;
  /** The cluster bus port: set, since the default (port + 10000) may be past 65535. */
  busPort = 0;

  constructor(private readonly options: { cluster?: boolean; slots?: [first: number, last: number] } = {}) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    const firstStart = !this.port;
    for (let attempt = 1; ; attempt++) {
      if (!this.port) this.port = await freePort();
      while (!this.busPort || this.busPort === this.port) this.busPort = await freePort();
      try {
        await this.launch();
        return this;
      } catch (error) {
        // Another process took a port between freePort() and redis-server binding it: take new
        // ones (only before anyone was given this server's URL).
        if (!(error instanceof ExitedAtStart) || !firstStart || attempt === 3) throw error;
        this.port = 0;
        this.busPort = 0;
      }
    }
  }

  private async launch(): Promise<void> {
    const nodesFile = join(tmpdir(), `redis-test-nodes-${this.port}.conf`);
    rmSync(nodesFile, { force: true });
    const cluster = this.options.cluster
      ? [
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          nodesFile,
          '--cluster-port',
          String(this.busPort),
        ]
      : [];
    const child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...cluster],
      {
        stdio: 'ignore',
      },
    );
    this.child = child;
    const exitedAtStart = new Promise<never>((_, reject) =>
      child.once('exit', (code) =>
        reject(new ExitedAtStart(`redis-server on ${this.port} exited with ${code}`)),
      ),
    );
    exitedAtStart.catch(() => undefined); // only awaited while starting
    const probe = new Redis(this.url, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    try {
      const up = waitFor(
        async () => {
          try {
            await probe.connect();
          } catch {
            // not up yet
          }
          return probe.status === 'ready' && (await probe.ping()) === 'PONG';
        },
        Boolean,
        { what: 'own redis-server to accept connections' },
      );
      await Promise.race([up, exitedAtStart]);
      if (this.options.cluster) {
        const [first, last] = this.options.slots ?? [0, 16383];
        await probe.call('CLUSTER', 'ADDSLOTSRANGE', String(first), String(last));
        if (!this.options.slots) await waitForClusterOk(this.url, 1);
      }
    } finally {
      probe.disconnect();
    }
  }

  /** Kills the server (no persistence: everything in it is gone). */
  async kill(): Promise<void> {
    if (!this.child) return;
    if (this.child.exitCode !== null || this.child.signalCode !== null) {
      this.child = null;
      return;
    }
    const exited = new Promise((resolve) => this.child!.once('exit', resolve));
    this.child.kill('SIGKILL');
    await exited;
    this.child = null;
  }
}

/** Redis Cluster of three masters of the test's own, the 16,384 slots split between them. */
export class OwnRedisCluster {
  readonly nodes = [
    new OwnRedisServer({ cluster: true, slots: [0, 5460] }),
    new OwnRedisServer({ cluster: true, slots: [5461, 10922] }),
    new OwnRedisServer({ cluster: true, slots: [10923, 16383] }),
  ];

  /** The node clients start from; they learn the others from it. */
  get url(): string {
    return this.nodes[0].url;
  }

  async start(): Promise<this> {
    // One after the other: each takes its ports while the ones before already hold theirs.
    for (const node of this.nodes) await node.start();
    const first = new Redis(this.url);
    try {
      for (const node of this.nodes.slice(1)) {
        await first.call('CLUSTER', 'MEET', '127.0.0.1', String(node.port), String(node.busPort));
      }
    } finally {
      first.disconnect();
    }
    for (const node of this.nodes) await waitForClusterOk(node.url, this.nodes.length);
    return this;
  }

  async kill(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.kill()));
  }
}

/** Until the node at `url` serves every slot and knows `nodes` nodes. */
async function waitForClusterOk(url: string, nodes: number): Promise<void> {
  const probe = new Redis(url);
  try {
    await waitFor(
      () => probe.call('CLUSTER', 'INFO') as Promise<string>,
      (info) => info.includes('cluster_state:ok') && info.includes(`cluster_known_nodes:${nodes}\r`),
      { what: `the cluster seen from ${url} to serve every slot with ${nodes} node(s)` },
    );
  } finally {
    probe.disconnect();
  }
}

/** redis-server exited while starting (e.g. its port was taken meanwhile). */
class ExitedAtStart extends Error {}
