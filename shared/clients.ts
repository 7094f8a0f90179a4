/**
 * The one AWS client factory. The S3 and DynamoDB adapters are the same code in the cloud and
 * locally; only the endpoint and the checksum settings change here.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';

const LOCAL_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export interface S3ClientOptions {
  region: string;
  /** Emulator endpoint; undefined for real AWS. */
  endpoint?: string;
  /** Per-request timeout in ms (connection and socket). */
  timeoutMs?: number;
  maxAttempts?: number;
}

export function createS3Client(o: S3ClientOptions): S3Client {
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
    requestHandler: new NodeHttpHandler({
      connectionTimeout: o.timeoutMs ?? 5000,
      requestTimeout: o.timeoutMs ?? 5000,
      httpAgent: new HttpAgent({ keepAlive: true, maxSockets: 64 }),
      httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: 64 }),
    }),
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
