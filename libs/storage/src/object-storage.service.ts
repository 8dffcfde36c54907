import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { Inject, Injectable } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isNotFound } from './ensure-bucket';
import { createS3Client, S3_CLIENT, STORAGE_OPTIONS, StorageOptions } from './storage-options';

export interface StoredObject {
  /** Hex SHA-256 of the bytes, computed by us while uploading (also kept as object metadata). */
  sha256: string;
  size: number;
}

export interface ObjectInfo {
  size: number;
  /** From the object's metadata; null for objects not written through ObjectStorage. */
  sha256: string | null;
  contentType: string | null;
}

export interface PresignedUrl {
  url: string;
  expiresAt: Date;
}

/** Metadata key (x-amz-meta-sha256) holding the object's SHA-256. */
const SHA256_METADATA = 'sha256';

/**
 * The one S3 bucket of the deployment (invoice PDFs, exports, tax-exemption documents). Keys are
 * chosen by callers from business ids, so a repeated put writes the same key: retries overwrite,
 * never duplicate.
 */
@Injectable()
export class ObjectStorage {
  /** Signs download links; a client of its own when users reach S3 by another address. */
  private readonly presigner: S3Client;

  constructor(
    @Inject(S3_CLIENT) private readonly client: S3Client,
    @Inject(STORAGE_OPTIONS) private readonly options: StorageOptions,
  ) {
    this.presigner =
      options.publicEndpoint && options.publicEndpoint !== options.endpoint
        ? createS3Client({ ...options, endpoint: options.publicEndpoint })
        : client;
  }

  get bucket(): string {
    return this.options.bucket;
  }

  /**
   * Uploads the object. A stream is spooled to a temporary file while hashing, so memory stays
   * flat whatever its size and S3 gets a Content-Length (a plain PutObject needs one).
   */
  async put(key: string, body: Buffer | Readable, contentType: string): Promise<StoredObject> {
    if (Buffer.isBuffer(body)) {
      const sha256 = createHash('sha256').update(body).digest('hex');
      await this.send(key, body, body.length, sha256, contentType);
      return { sha256, size: body.length };
    }
    const dir = await mkdtemp(join(tmpdir(), 'object-storage-'));
    try {
      const file = join(dir, 'body');
      const hash = createHash('sha256');
      const hasher = new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          hash.update(chunk);
          callback(null, chunk);
        },
      });
      await pipeline(body, hasher, createWriteStream(file));
      const { size } = await stat(file);
      const sha256 = hash.digest('hex');
      await this.send(key, createReadStream(file), size, sha256, contentType);
      return { sha256, size };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** Uploads unless the key already holds an object; returns what is stored either way. */
  async putIfAbsent(
    key: string,
    body: Buffer | Readable,
    contentType: string,
  ): Promise<StoredObject & { created: boolean }> {
    const existing = await this.head(key);
    if (existing?.sha256) return { sha256: existing.sha256, size: existing.size, created: false };
    return { ...(await this.put(key, body, contentType)), created: true };
  }

  /** Size and recorded hash of the object, or null when the key holds nothing. */
  async head(key: string): Promise<ObjectInfo | null> {
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.options.bucket, Key: key }));
      return {
        size: Number(out.ContentLength ?? 0),
        sha256: out.Metadata?.[SHA256_METADATA] ?? null,
        contentType: out.ContentType ?? null,
      };
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  async getStream(key: string): Promise<Readable> {
    const out = await this.client.send(new GetObjectCommand({ Bucket: this.options.bucket, Key: key }));
    return out.Body as Readable;
  }

  async getBuffer(key: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of await this.getStream(key)) chunks.push(Buffer.from(chunk as Buffer));
    return Buffer.concat(chunks);
  }

  /**
   * A GET link valid for ttlSeconds, signed locally (no request to S3). With downloadFileName the
   * browser saves the file under that name (response-content-disposition).
   */
  async presignedGetUrl(key: string, ttlSeconds: number, downloadFileName?: string): Promise<PresignedUrl> {
    const expiresAt = new Date(Date.now() + ttlSeconds * 1000);
    const command = new GetObjectCommand({
      Bucket: this.options.bucket,
      Key: key,
      ...(downloadFileName
        ? {
            ResponseContentDisposition: `attachment; filename="${downloadFileName.replace(/["\\\r\n]/g, '_')}"`,
          }
        : {}),
    });
    const url = await getSignedUrl(this.presigner, command, { expiresIn: ttlSeconds });
    return { url, expiresAt };
  }

  /** Deleting a missing key is not an error (S3 semantics). */
  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.options.bucket, Key: key }));
  }

  private async send(
    key: string,
    body: Buffer | Readable,
    size: number,
    sha256: string,
    contentType: string,
  ): Promise<void> {
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.options.bucket,
        Key: key,
        Body: body,
        ContentLength: size,
        ContentType: contentType,
        Metadata: { [SHA256_METADATA]: sha256 },
      }),
    );
  }
}
