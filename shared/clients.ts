/**
 * The one AWS client factory. The S3 and DynamoDB adapters are the same code in the cloud and
 * locally; only the endpoint and the checksum settings change here.
 */
import { S3Client } from '@aws-sdk/client-s3';
import type { FinalizeRequestMiddleware, MetadataBearer } from '@smithy/types';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { NodeHttpHandler, type NodeHttpHandlerOptions } from '@smithy/node-http-handler';
import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';

const LOCAL_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export interface S3ClientOptions {
  region: string;
  /** Emulator endpoint; undefined for real AWS. */
  endpoint?: string;
  /** Deadline of every call in ms, from the request leaving to the response's end. */
  timeoutMs?: number;
  maxAttempts?: number;
}

const callerSignal = new AsyncLocalStorage<AbortSignal | undefined>();

/**
 * Run one S3 call that the caller's `signal` can cancel. The signal reaches the HTTP handler
 * through the call's async context instead of `send`'s options: a `send` with options rebuilds
 * the command's middleware stack every time (and drops the client's cached ones), which was a
 * third of the client's CPU per small PUT.
 */
export function withCallerSignal<T>(signal: AbortSignal | undefined, call: () => Promise<T>): Promise<T> {
  return callerSignal.run(signal, call);
}

/** The Node HTTP handler with a deadline on every call, combined with the caller's signal. */
class DeadlineHttpHandler extends NodeHttpHandler {
  constructor(
    options: NodeHttpHandlerOptions,
    private readonly deadlineMs: number,
  ) {
    super(options);
  }

  override handle(...[request, options = {}]: Parameters<NodeHttpHandler['handle']>): ReturnType<NodeHttpHandler['handle']> {
    const signals: AbortSignal[] = [AbortSignal.timeout(this.deadlineMs)];
    const outer = callerSignal.getStore();
    if (outer) signals.push(outer);
    if (options.abortSignal) signals.push(options.abortSignal as AbortSignal);
    return super.handle(request, { ...options, abortSignal: signals.length === 1 ? signals[0] : AbortSignal.any(signals) });
  }
}

const payloadHashes = new WeakMap<Uint8Array, string>();

/**
 * The SHA-256 (hex) of a request body, computed once per body object. SigV4 signs a PUT's payload
 * hash, and the engine writes the same stored chunk to every replica, each through its region's
 * client: without this, each client hashed the same bytes again (three passes over every chunk of
 * a strong write). Bodies are never changed after they are handed to a store.
 */
export function payloadSha256(body: Uint8Array): string {
  let hex = payloadHashes.get(body);
  if (hex === undefined) {
    hex = createHash('sha256').update(body).digest('hex');
    payloadHashes.set(body, hex);
  }
  return hex;
}

const PAYLOAD_HASH_HEADER = 'x-amz-content-sha256';

const payloadHashOnce: FinalizeRequestMiddleware<object, MetadataBearer> = (next) => async (args) => {
  const request = args.request as { headers?: Record<string, string>; body?: unknown };
  if (request.headers && request.body instanceof Uint8Array && request.headers[PAYLOAD_HASH_HEADER] === undefined) {
    request.headers[PAYLOAD_HASH_HEADER] = payloadSha256(request.body);
  }
  return next(args);
};

export function createS3Client(o: S3ClientOptions): S3Client {
  const client = newS3Client(o);
  // Just before signing, when the body is final: the signer takes a payload hash that is already
  // in the headers as it is.
  client.middlewareStack.addRelativeTo(payloadHashOnce, { relation: 'before', toMiddleware: 'httpSigningMiddleware', name: 'echofsPayloadHashOnce' });
  return client;
}

function newS3Client(o: S3ClientOptions): S3Client {
  const emulator = o.endpoint !== undefined;
  return new S3Client({
    region: o.region,
    ...(emulator
      ? {
          endpoint: o.endpoint,
          forcePathStyle: true,
          credentials: LOCAL_CREDENTIALS,
          // s3rver would store aws-chunked framing and CRC trailers inside the object otherwise.
          requestChecksumCalculation: 'WHEN_REQUIRED',
          responseChecksumValidation: 'WHEN_REQUIRED',
        }
      : {}),
    maxAttempts: o.maxAttempts ?? 1,
    // Each command's middleware stack is built once per client, not once per call. Safe here:
    // nothing adds middleware after the first call, and a client serves one bucket, so the
    // context the cached stack shares between calls holds the same endpoint for all of them.
    cacheMiddleware: true,
    requestHandler: new DeadlineHttpHandler(
      {
        connectionTimeout: o.timeoutMs ?? 5000,
        requestTimeout: o.timeoutMs ?? 5000,
        httpAgent: new HttpAgent({ keepAlive: true, maxSockets: 64 }),
        httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: 64 }),
      },
      o.timeoutMs ?? 5000,
    ),
  });
}

export interface DynamoClientOptions {
  region: string;
  endpoint?: string;
  timeoutMs?: number;
}

export function createDynamoClients(o: DynamoClientOptions): { client: DynamoDBClient; doc: DynamoDBDocumentClient } {
  const client = new DynamoDBClient({
    region: o.region,
    ...(o.endpoint ? { endpoint: o.endpoint, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {}),
    requestHandler: new NodeHttpHandler({ connectionTimeout: o.timeoutMs ?? 3000, requestTimeout: o.timeoutMs ?? 3000 }),
  });
  const doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  return { client, doc };
}
