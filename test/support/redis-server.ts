import { ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { freePort } from './app-process';
import { waitFor } from './wait-for';

/**
 * A Redis server of the test's own, to restart empty without touching the shared one. With
 * `cluster`, it is a one-node Redis Cluster holding every slot: a plain client works against it,
 * and it refuses, as any Cluster does, a script or command whose keys are in different slots.
 */
export class OwnRedisServer {
  private child: ChildProcess | null = null;
  port = 0;

  constructor(private readonly options: { cluster?: boolean } = {}) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    if (!this.port) this.port = await freePort();
    const nodesFile = join(tmpdir(), `redis-test-nodes-${this.port}.conf`);
    rmSync(nodesFile, { force: true });
    const cluster = this.options.cluster
      ? ['--cluster-enabled', 'yes', '--cluster-config-file', nodesFile]
      : [];
    this.child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...cluster],
      {
        stdio: 'ignore',
      },
    );
    const probe = new Redis(this.url, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    try {
      await waitFor(
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
      if (this.options.cluster) {
        await probe.call('CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
        await waitFor(
          () => probe.call('CLUSTER', 'INFO') as Promise<string>,
          (info) => info.includes('cluster_state:ok'),
          { what: 'the one-node cluster to serve its slots' },
        );
      }
    } finally {
      probe.disconnect();
    }
    return this;
  }

  /** Kills the server (no persistence: everything in it is gone). */
  async kill(): Promise<void> {
    if (!this.child) return;
    const exited = new Promise((resolve) => this.child!.once('exit', resolve));
    this.child.kill('SIGKILL');
    await exited;
    this.child = null;
  }
}
