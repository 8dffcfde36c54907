import { StorageEnv } from '@app/config';
import { S3Client } from '@aws-sdk/client-s3';

/** Where objects live; one bucket per deployment. */
export interface StorageOptions {
  /** Empty: AWS S3 itself. */
  endpoint: string;
  /** Presigned links are signed for this endpoint; empty: `endpoint`. */
  publicEndpoint?: string;
  region: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  forcePathStyle: boolean;
  /** Connection wait and idle-socket limit of each request (S3_CONNECT_TIMEOUT_MS, S3_REQUEST_TIMEOUT_MS). */
  connectTimeoutMs: number;
  requestTimeoutMs: number;
}

export const STORAGE_OPTIONS = Symbol('STORAGE_OPTIONS');
export const S3_CLIENT = Symbol('S3_CLIENT');

export function storageOptionsFromEnv(env: StorageEnv): StorageOptions {
  return {
    endpoint: env.S3_ENDPOINT,
    publicEndpoint: env.S3_PUBLIC_ENDPOINT,
    region: env.S3_REGION,
    bucket: env.S3_BUCKET,
    accessKeyId: env.S3_ACCESS_KEY_ID,
    secretAccessKey: env.S3_SECRET_ACCESS_KEY,
    forcePathStyle: env.S3_FORCE_PATH_STYLE,
    connectTimeoutMs: env.S3_CONNECT_TIMEOUT_MS,
    requestTimeoutMs: env.S3_REQUEST_TIMEOUT_MS,
  };
}

export function createS3Client(options: StorageOptions): S3Client {
  return new S3Client({
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    region: options.region,
    credentials: { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey },
    forcePathStyle: options.forcePathStyle,
    // A request fails (and its job retries) instead of waiting forever on a store that went quiet.
    // (socketTimeout is the idle limit; the SDK's requestTimeout only logs unless told to throw.)
    requestHandler: {
      connectionTimeout: options.connectTimeoutMs,
      socketTimeout: options.requestTimeoutMs,
    },
    // The SDK's default CRC checksums on every request corrupt streamed uploads on s3rver and
    // are not understood by every S3-compatible store; we keep our own SHA-256 instead.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}
