import { createS3Client, ObjectStorage, StorageOptions } from '@app/storage';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './app-process';

// s3rver ships no types; this is the part of its API we use.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3rver = require('s3rver') as new (options: Record<string, unknown>) => S3rverInstance;

interface S3rverInstance {
  run(): Promise<unknown>;
  close(): Promise<void>;
  httpServer?: import('node:http').Server;
}

export const TEST_S3_BUCKET = 'billing-test';

/**
 * A local S3 (s3rver, as `npm start` runs it) inside the test process, on a free port with a
 * temporary folder, its bucket created. `storage` reads back what the apps stored.
 */
export class S3TestServer {
  port = 0;
  private dir = '';
  private server: S3rverInstance | null = null;
  private client: S3Client | null = null;
  storage!: ObjectStorage;

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get options(): StorageOptions {
    return {
      endpoint: this.endpoint,
      region: 'us-east-1',
      bucket: TEST_S3_BUCKET,
      accessKeyId: 'S3RVER',
      secretAccessKey: 'S3RVER',
      forcePathStyle: true,
      connectTimeoutMs: 5_000,
      requestTimeoutMs: 60_000,
    };
  }

  /** The S3_* settings that point an app at this server. */
  env(): Record<string, string> {
    const options = this.options;
    return {
      S3_ENDPOINT: options.endpoint,
      S3_REGION: options.region,
      S3_BUCKET: options.bucket,
      S3_ACCESS_KEY_ID: options.accessKeyId,
      S3_SECRET_ACCESS_KEY: options.secretAccessKey,
      S3_FORCE_PATH_STYLE: 'true',
    };
  }

  async start(): Promise<this> {
    this.dir = await mkdtemp(join(tmpdir(), 's3rver-test-'));
    this.port = await freePort();
    const server = new S3rver({
      address: '127.0.0.1',
      port: this.port,
      silent: true,
      directory: this.dir,
      configureBuckets: [{ name: TEST_S3_BUCKET }],
    });
    await server.run();
    this.server = server;
    this.client = createS3Client(this.options);
    this.storage = new ObjectStorage(this.client, this.options);
    return this;
  }

  /** Every key under the prefix, e.g. to count a PDF's objects. */
  async keys(prefix = ''): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.client!.send(
        new ListObjectsV2Command({ Bucket: TEST_S3_BUCKET, Prefix: prefix, ContinuationToken: token }),
      );
      for (const object of page.Contents ?? []) keys.push(object.Key!);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return keys;
  }

  async stop(): Promise<void> {
    this.client?.destroy();
    // Keep-alive sockets of the apps' and the test's clients would hold close() open.
    this.server?.httpServer?.closeAllConnections();
    await this.server?.close();
    this.server = null;
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }
}
