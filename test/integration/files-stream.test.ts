/**
 * The streaming download path as the Function URL sees it behind CloudFront's origin access
 * control, over the real files handler, storage engine and catalog (PGlite, in-memory replicas):
 * the user's token arrives in X-EchoFS-Authorization while Authorization holds CloudFront's SigV4
 * signature; a download larger than one streamed response may carry is refused with a 413 that
 * names the manifest, and a Range within the limit is still streamed.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandler, functionUrlRequest, limitStream } from '#functions/files/handler.js';
import type { Catalog } from '#shared/catalog/db.js';
import { openSeededCatalog } from '../helpers/catalog-template.js';
import { users } from '#shared/catalog/schema.js';
import { DOWNLOAD_TOKEN_HEADER, DOWNLOAD_TOO_LARGE, STREAM_MAX_BYTES } from '#shared/downloads.js';
import { Unauthorized } from '#shared/errors.js';
import type { ApiResult } from '#shared/http.js';
import type { ApiEvent } from '#functions/_lib/api.js';
import { StorageEngine } from '#shared/storage/engine.js';
import { MemoryObjectStore } from '#shared/storage/memory-store.js';

const context = { awsRequestId: 'req-1', getRemainingTimeInMillis: () => 300_000 } as unknown as Context;
const TOKEN = 'user-token';
const SIGV4 = 'AWS4-HMAC-SHA256 Credential=ASIA/20250101/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc';

let catalog: Catalog;
let handler: ReturnType<typeof createHandler>;
let fileId: string;
let stores: Map<string, MemoryObjectStore>;
let engine: StorageEngine;
let ownerId: string;
const content = randomBytes(300_000);

/** The event a Function URL hands the stream handler: routeKey $default, headers lower-cased. */
function urlEvent(path: string, headers: Record<string, string>): ApiEvent {
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: '',
    headers: { host: 'abc.lambda-url.us-east-1.on.aws', ...headers },
    requestContext: { requestId: 'r1', http: { method: 'GET', path } },
    isBase64Encoded: false,
  } as unknown as ApiEvent;
}

async function bodyOf(result: ApiResult): Promise<Buffer> {
  if (!result.stream) return Buffer.from(result.body ?? '', result.isBase64Encoded ? 'base64' : 'utf8');
  const parts: Buffer[] = [];
  for await (const p of result.stream as Readable) parts.push(Buffer.from(p as Uint8Array));
  return Buffer.concat(parts);
}

/** What streamCore does for one request: map the event, call the API handler, apply the limit. */
async function stream(path: string, headers: Record<string, string>, limit = STREAM_MAX_BYTES): Promise<ApiResult> {
  const request = functionUrlRequest(urlEvent(path, headers));
  return limitStream(await handler(request, context), request.pathParameters?.id, limit);
}

beforeAll(async () => {
  catalog = await openSeededCatalog();
  const [owner] = await catalog.db.insert(users).values({ username: 'ann', email: 'ann@example.com', passwordHash: 'x' }).returning({ id: users.id });
  stores = new Map(['us-east-1', 'eu-west-1', 'ap-southeast-1'].map((r) => [r, new MemoryObjectStore(r)]));
  const storage = new StorageEngine({
    db: catalog.db,
    stores,
    config: { mode: 'C', maxFileBytes: 1e9, quotaBytes: 1e9, uploadTtlSeconds: 60, replicaTimeoutMs: 1000 },
  });
  const f = await storage.uploadStream(owner!.id, { name: 'big.bin' }, Readable.from([content]));
  fileId = f.fileId;
  engine = storage;
  ownerId = owner!.id;
  handler = createHandler({
    storage,
    authenticator: {
      authenticate: async (token: string) => {
        if (token !== TOKEN) throw new Unauthorized();
        return { id: owner!.id, email: 'ann@example.com', role: 'user' as const, username: 'ann' };
      },
    },
    catalog: { ping: async () => undefined },
  });
});

afterAll(async () => {
  await catalog?.close();
});

describe('streaming download behind origin access control', () => {
  it('authenticates the user from X-EchoFS-Authorization while Authorization holds CloudFront’s signature', async () => {
    const res = await stream(`/api/v1/files/${fileId}/download`, { authorization: SIGV4, [DOWNLOAD_TOKEN_HEADER]: `Bearer ${TOKEN}` });
    expect(res.statusCode).toBe(200);
    expect((await bodyOf(res)).equals(content)).toBe(true);
  });

  it('never takes a token from Authorization there (it is CloudFront’s), so without the token header it answers 401', async () => {
    const signed = await stream(`/api/v1/files/${fileId}/download`, { authorization: SIGV4 });
    expect(signed.statusCode).toBe(401);
    const bearerOnly = await stream(`/api/v1/files/${fileId}/download`, { authorization: `Bearer ${TOKEN}` });
    expect(bearerOnly.statusCode).toBe(401);
  });

  it('refuses a download larger than one streamed response with 413 naming the manifest', async () => {
    const res = await stream(`/api/v1/files/${fileId}/download`, { [DOWNLOAD_TOKEN_HEADER]: `Bearer ${TOKEN}` }, 100_000);
    expect(res.statusCode).toBe(413);
    expect(res.stream).toBeUndefined();
    const body = JSON.parse(res.body ?? '{}') as { error: { code: string; message: string; manifest: string; limit: number } };
    expect(body.error.code).toBe(DOWNLOAD_TOO_LARGE);
    expect(body.error.manifest).toBe(`/api/v1/files/${fileId}/manifest`);
    expect(body.error.limit).toBe(100_000);
    expect(body.error.message).toContain(`GET /api/v1/files/${fileId}/manifest`);
    expect(body.error.message).toContain('300000 bytes');
    expect(res.headers?.['X-EchoFS-Mode']).toBe('C');
  });

  it('still streams a Range of that file that fits in one response', async () => {
    const res = await stream(`/api/v1/files/${fileId}/download`, { [DOWNLOAD_TOKEN_HEADER]: `Bearer ${TOKEN}`, range: 'bytes=1000-50999' }, 100_000);
    expect(res.statusCode).toBe(206);
    expect((await bodyOf(res)).equals(content.subarray(1000, 51_000))).toBe(true);
  });

  it('answers 503 with a JSON error, not a connection closed before any header, when no replica can serve the first chunk', async () => {
    for (const st of stores.values()) st.state = 'refuse';
    try {
      const res = await stream(`/api/v1/files/${fileId}/download`, { [DOWNLOAD_TOKEN_HEADER]: `Bearer ${TOKEN}` });
      expect(res.statusCode).toBe(503);
      expect(res.stream).toBeUndefined();
      const body = JSON.parse(res.body ?? '{}') as { error: { code: string; message: string } };
      expect(body.error.code).toBe('chunk_unavailable');
      expect(body.error.message).not.toMatch(/refuse|ECONN|Error:/);
    } finally {
      for (const st of stores.values()) st.state = 'up';
    }
    const again = await stream(`/api/v1/files/${fileId}/download`, { [DOWNLOAD_TOKEN_HEADER]: `Bearer ${TOKEN}` });
    expect(again.statusCode).toBe(200);
    expect((await bodyOf(again)).equals(content)).toBe(true);
  });
});

describe('download links and the streaming limit', () => {
  /** The files handler with a link signer and the given stream limit, asked for a link through API Gateway. */
  async function askLink(streamLimit: number | undefined): Promise<ApiResult> {
    const h = createHandler({
      storage: engine,
      authenticator: {
        authenticate: async () => ({ id: ownerId, email: 'ann@example.com', role: 'user' as const, username: 'ann' }),
        signLink: async () => ({ token: 'signed', expiresAt: new Date(Date.now() + 60_000), expiresInSeconds: 60 }),
      },
      catalog: { ping: async () => undefined },
      ...(streamLimit !== undefined ? { streamLimit } : {}),
    });
    const event = {
      version: '2.0',
      routeKey: 'POST /api/v1/files/{id}/download-link',
      rawPath: `/api/v1/files/${fileId}/download-link`,
      rawQueryString: '',
      headers: { authorization: `Bearer ${TOKEN}` },
      pathParameters: { id: fileId },
      requestContext: { requestId: 'r2', http: { method: 'POST', path: `/api/v1/files/${fileId}/download-link` } },
      isBase64Encoded: false,
    } as unknown as ApiEvent;
    return h(event, context);
  }

  it('refuses a link to a file over the stream limit up front with 413 download_too_large naming the manifest', async () => {
    const res = await askLink(content.length - 1);
    expect(res.statusCode).toBe(413);
    const body = JSON.parse(res.body ?? '{}') as { error: { code: string; manifest: string; limit: number } };
    expect(body.error.code).toBe(DOWNLOAD_TOO_LARGE);
    expect(body.error.manifest).toBe(`/api/v1/files/${fileId}/manifest`);
    expect(body.error.limit).toBe(content.length - 1);
  });

  it('signs a link to a file within the limit, or with no limit (local)', async () => {
    for (const limit of [content.length, undefined]) {
      const res = await askLink(limit);
      expect(res.statusCode, String(limit)).toBe(200);
      expect((JSON.parse(res.body ?? '{}') as { data: { url: string } }).data.url).toBe(`/api/v1/files/${fileId}/download?link=signed`);
    }
  });
});
