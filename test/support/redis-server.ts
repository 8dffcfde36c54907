import { ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isRedisUnavailable, withDeadline } from '@app/http';
import Redis from 'ioredis';
import { freePort } from './app-process';
import { waitFor } from './wait-for';

/**
 * A Redis server of the test's own, to restart empty without touching the shared one. With
 * `cluster`, it is a node of a Redis Cluster, by default a one-node cluster holding every slot: a
 * plain client works against it, and it refuses, as any Cluster does, a script or command whose
 * keys are in different slots. A `replica` node holds no slots until it is made a master's replica.
 */
export class OwnRedisServer {
  private child: ChildProcess | null = null;
  port = 0;
  /** The cluster bus port: set, since the default (port + 10000) may be past 65535. */
  busPort = 0;

  constructor(
    private readonly options: {
      cluster?: boolean;
      slots?: [first: number, last: number];
      replica?: boolean;
      /** cluster-node-timeout: how long a node may be unreachable before its replica takes over. */
      nodeTimeoutMs?: number;
    } = {},
  ) {}

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
    // A server loads the RDB file it finds at start: never one an earlier server on this port left.
    for (const file of [nodesFile, join(tmpdir(), this.rdbFile)]) rmSync(file, { force: true });
    const cluster = this.options.cluster
      ? [
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          nodesFile,
          '--cluster-port',
          String(this.busPort),
          ...(this.options.nodeTimeoutMs
            ? ['--cluster-node-timeout', String(this.options.nodeTimeoutMs)]
            : []),
        ]
      : [];
    const child = spawn(
      'redis-server',
      [
        ...['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
        // A replica's full sync writes an RDB file even without --save.
        ...['--dir', tmpdir(), '--dbfilename', this.rdbFile],
        ...cluster,
      ],
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
      if (this.options.cluster && !this.options.replica) {
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
    rmSync(join(tmpdir(), this.rdbFile), { force: true });
  }

  /** Where a replica's full sync writes its RDB file (in the temp dir, one per port). */
  private get rdbFile(): string {
    return `redis-test-${this.port}.rdb`;
  }
}

/**
 * Redis Cluster of three masters of the test's own, the 16,384 slots split between them; with
 * `replicas`, one replica per master, which takes over about two seconds after its master dies.
 */
export class OwnRedisCluster {
  static readonly SLOT_RANGES: ReadonlyArray<[number, number]> = [
    [0, 5460],
    [5461, 10922],
    [10923, 16383],
  ];
  private readonly nodeTimeoutMs: number | undefined;
  /** The masters, in the order of SLOT_RANGES. */
  readonly nodes: OwnRedisServer[];
  /** replicas[i] replicates nodes[i]. */
  readonly replicas: OwnRedisServer[];

  constructor(options: { replicas?: boolean } = {}) {
    this.nodeTimeoutMs = options.replicas ? 1000 : undefined;
    const nodeTimeoutMs = this.nodeTimeoutMs;
    this.nodes = OwnRedisCluster.SLOT_RANGES.map(
      (slots) => new OwnRedisServer({ cluster: true, slots, nodeTimeoutMs }),
    );
    this.replicas = options.replicas
      ? this.nodes.map(() => new OwnRedisServer({ cluster: true, replica: true, nodeTimeoutMs }))
      : [];
  }

  replicaOf(master: OwnRedisServer): OwnRedisServer {
    return this.replicas[this.nodes.indexOf(master)];
  }

  /** The master serving `slot` when the cluster started. */
  masterOf(slot: number): OwnRedisServer {
    return this.nodes[
      OwnRedisCluster.SLOT_RANGES.findIndex(([first, last]) => slot >= first && slot <= last)
    ];
  }

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
    if (this.replicas.length > 0) await this.addReplicas();
    return this;
  }

  private async addReplicas(): Promise<void> {
    for (const replica of this.replicas) await replica.start();
    const first = new Redis(this.url);
    try {
      for (const replica of this.replicas)
        await first.call('CLUSTER', 'MEET', '127.0.0.1', String(replica.port), String(replica.busPort));
    } finally {
      first.disconnect();
    }
    const total = this.nodes.length + this.replicas.length;
    for (const [index, replica] of this.replicas.entries()) {
      const [client, master] = [new Redis(replica.url), new Redis(this.nodes[index].url)];
      try {
        await waitFor(
          () => client.call('CLUSTER', 'INFO') as Promise<string>,
          (info) => info.includes(`cluster_known_nodes:${total}\r`),
          { what: `replica ${replica.url} to know every node` },
        );
        await client.call('CLUSTER', 'REPLICATE', String(await master.call('CLUSTER', 'MYID')));
        await waitFor(
          () => client.info('replication'),
          (info) => info.includes('master_link_status:up'),
          { what: `replica ${replica.url} to sync with its master` },
        );
      } finally {
        client.disconnect();
        master.disconnect();
      }
    }
    for (const node of [...this.nodes, ...this.replicas]) await waitForClusterOk(node.url, total);
  }

  async kill(): Promise<void> {
    await Promise.all([...this.nodes, ...this.replicas].map((node) => node.kill()));
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

/** The clients connected to `observer`'s server other than itself, as "name cmd" (name empty if unnamed). */
export async function otherClients(observer: Redis): Promise<string[]> {
  const ownId = await observer.client('ID');
  const lines = ((await observer.client('LIST')) as string).trim().split('\n');
  return lines
    .filter((line) => !line.startsWith(`id=${ownId} `))
    .map((line) => `${/ name=(\S*)/.exec(line)?.[1] ?? ''} ${/ cmd=(\S*)/.exec(line)?.[1] ?? ''}`.trim());
}

/**
 * A Redis server of the suite's own and a client watching who else connects to it, for specs
 * that count their code's connections: started before the suite's tests, stopped after them.
 */
export function watchedOwnRedis(): { server: OwnRedisServer; observer(): Redis } {
  const server = new OwnRedisServer();
  let observer: Redis | undefined;
  beforeAll(async () => {
    await server.start();
    observer = new Redis(server.url);
  });
  afterAll(async () => {
    observer?.disconnect();
    await server.kill();
  });
  return { server, observer: () => observer! };
}

/** The other clients still connected once closing should have ended them: none, or those left after 3 s. */
export async function clientsLeftOpen(observer: Redis): Promise<string[]> {
  return waitFor(
    () => otherClients(observer),
    (clients) => clients.length === 0,
    { what: 'Redis to see every other connection closed', timeoutMs: 3_000 },
  ).catch(() => otherClients(observer));
}

/** A Redis URL nothing listens on: every connect is refused, as when Redis's host is down. */
export async function refusedRedisUrl(): Promise<string> {
  return `redis://127.0.0.1:${await freePort()}`;
}

/**
 * How `work` (a first use of a lazily opened queue or connection while Redis is unreachable)
 * ended: "unavailable" when it failed as Redis being unreachable within 6 s (a fail-fast
 * connection gives up after a few reconnects), else the message of what it did instead, the
 * deadline's "waited for Redis" included, or "resolved".
 */
export async function outcomeWhileRedisRefused(work: Promise<unknown>): Promise<string> {
  const failure = await withDeadline(work, 6_000, 'waited for Redis').then(
    () => 'resolved',
    (error: unknown) => error,
  );
  if (failure === 'resolved') return failure;
  return isRedisUnavailable(failure) ? 'unavailable' : (failure as Error).message;
}
