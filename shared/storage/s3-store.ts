/**
 * The S3 adapter of the ObjectStore port: one instance per replica (a bucket in one region).
 * The same code talks to real S3 and to s3rver; only the client factory's settings differ.
 * Every call carries a deadline (the client's timeoutMs, config.replicaTimeoutMs for replicas)
 * combined with the caller's signal (withCallerSignal).
 */
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { Config } from '../config.js';
import { createS3Client, withCallerSignal } from '../clients.js';
import type { ObjectStore } from './ports.js';

export interface S3ObjectStoreOptions {
  region: string;
  bucket: string;
  /** Its deadline per call is the client's (createS3Client's timeoutMs). */
  client: S3Client;
}

/** A replica call that failed for a reason other than "not found" (timeout, refused, 5xx…). */
export class ReplicaError extends Error {
  constructor(
    readonly region: string,
    readonly operation: string,
    cause: unknown,
  ) {
    super(`replica ${region}: ${operation} failed: ${describe(cause)}`, { cause });
    this.name = 'ReplicaError';
  }
}

function describe(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.Code === 'NoSuchKey' || e?.$metadata?.httpStatusCode === 404;
}

export class S3ObjectStore implements ObjectStore {
  readonly region: string;
  readonly bucket: string;
  private readonly client: S3Client;

  constructor(o: S3ObjectStoreOptions) {
    this.region = o.region;
    this.bucket = o.bucket;
    this.client = o.client;
  }

  async put(key: string, body: Buffer, signal?: AbortSignal): Promise<void> {
    try {
      await withCallerSignal(signal, () =>
        this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentLength: body.length, ContentType: 'application/octet-stream' })),
      );
    } catch (err) {
      throw new ReplicaError(this.region, 'put', err);
    }
  }

  async get(key: string, signal?: AbortSignal): Promise<Buffer | undefined> {
    try {
      const bytes = await withCallerSignal(signal, async () => {
        const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
        return res.Body ? res.Body.transformToByteArray() : new Uint8Array(0);
      });
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw new ReplicaError(this.region, 'get', err);
    }
  }

  async exists(key: string, signal?: AbortSignal): Promise<boolean> {
    try {
      await withCallerSignal(signal, () => this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key })));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw new ReplicaError(this.region, 'head', err);
    }
  }

  async delete(key: string, signal?: AbortSignal): Promise<void> {
    try {
      await withCallerSignal(signal, () => this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key })));
    } catch (err) {
      if (isNotFound(err)) return;
      throw new ReplicaError(this.region, 'delete', err);
    }
  }

  async *list(prefix: string): AsyncIterable<{ key: string; size: number }> {
    let token: string | undefined;
    do {
      let res;
      try {
        res = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token, MaxKeys: 1000 }));
      } catch (err) {
        throw new ReplicaError(this.region, 'list', err);
      }
      for (const o of res.Contents ?? []) if (o.Key !== undefined) yield { key: o.Key, size: o.Size ?? 0 };
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
  }

  async presignGet(key: string, expiresInSeconds: number): Promise<string> {
    return getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucket, Key: key }), { expiresIn: expiresInSeconds });
  }

  /** Reachability check for /health: HEAD the bucket within the deadline. */
  async ping(signal?: AbortSignal): Promise<void> {
    try {
      await withCallerSignal(signal, () => this.client.send(new HeadBucketCommand({ Bucket: this.bucket })));
    } catch (err) {
      throw new ReplicaError(this.region, 'head bucket', err);
    }
  }

  /** Create the bucket if it does not exist (local stack and tests; the cloud's buckets come from CDK). */
  async ensureBucket(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
      return;
    } catch {
      /* create below */
    }
    try {
      await this.client.send(new CreateBucketCommand({ Bucket: this.bucket }));
    } catch (err) {
      const name = (err as { name?: string }).name;
      if (name === 'BucketAlreadyOwnedByYou' || name === 'BucketAlreadyExists') return;
      throw new ReplicaError(this.region, 'create bucket', err);
    }
  }
}

/** One ObjectStore per configured region, in config.regions order. */
export function createReplicaStores(
  config: Pick<Config, 'regions' | 'buckets' | 's3Endpoints' | 'replicaTimeoutMs'>,
): Map<string, S3ObjectStore> {
  const stores = new Map<string, S3ObjectStore>();
  for (const region of config.regions) {
    const bucket = config.buckets[region];
    if (!bucket) throw new Error(`no bucket configured for region ${region} (ECHOFS_BUCKETS)`);
    const client = createS3Client({ region, endpoint: config.s3Endpoints[region], timeoutMs: config.replicaTimeoutMs });
    stores.set(region, new S3ObjectStore({ region, bucket, client }));
  }
  return stores;
}
