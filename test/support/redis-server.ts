import { ChildProcess, spawn } from 'node:child_process';
import Redis from 'ioredis';
import { freePort } from './app-process';
import { waitFor } from './wait-for';

/** A Redis server of the test's own, to restart empty without touching the shared one. */
export class OwnRedisServer {
  private child: ChildProcess | null = null;
  port = 0;

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    if (!this.port) this.port = await freePort();
    this.child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
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
