/**
 * The files handler with fakes: health answers, the mode header on every response.
 */
import { describe, expect, it } from 'vitest';
import type { Context } from 'aws-lambda';
import { createHandler } from '#functions/files/handler.js';
import { StorageEngine } from '#shared/storage/engine.js';
import { MemoryObjectStore } from '#shared/storage/memory-store.js';
import type { Db } from '#shared/catalog/db.js';
import type { ApiEvent } from '#functions/_lib/api.js';
import { Unauthorized } from '#shared/errors.js';

const context = { awsRequestId: 'req-1', getRemainingTimeInMillis: () => 30_000 } as unknown as Context;

function event(routeKey: string, path: string, headers: Record<string, string> = {}): ApiEvent {
  const [method] = routeKey.split(' ');
  return {
    version: '2.0',
    routeKey,
    rawPath: path,
    rawQueryString: '',
    headers,
    requestContext: { requestId: 'r1', http: { method, path } },
    isBase64Encoded: false,
  } as unknown as ApiEvent;
}

function setup(pingFails = false, refuse: string[] = []) {
  const stores = new Map(['us-east-1', 'eu-west-1', 'ap-southeast-1'].map((r) => [r, new MemoryObjectStore(r)]));
  for (const r of refuse) stores.get(r)!.state = 'refuse';
  const storage = new StorageEngine({
    // Health and the mode header never touch the catalog through the engine.
    db: undefined as unknown as Db,
    stores,
    config: { mode: 'H', maxFileBytes: 1e9, quotaBytes: 1e9, uploadTtlSeconds: 60, replicaTimeoutMs: 1000 },
  });
  return createHandler({
    storage,
    authenticator: {
      authenticate: async () => {
        throw new Unauthorized();
      },
    },
    catalog: { ping: async () => (pingFails ? Promise.reject(new Error('connection refused')) : undefined) },
  });
}

describe('files handler', () => {
  it('health is 200 and ok when the catalog and every replica answer', async () => {
    const res = await setup()(event('GET /api/v1/health', '/api/v1/health'), context);
    expect(res.statusCode).toBe(200);
    const body = JSON.parse(res.body ?? '{}');
    expect(body.status).toBe('ok');
    expect(Object.keys(body.replicas)).toHaveLength(3);
    expect(res.headers?.['X-EchoFS-Mode']).toBe('H');
  });

  it('health is 200 but degraded when a replica is down, and 503 when the catalog is down', async () => {
    const degraded = await setup(false, ['eu-west-1'])(event('GET /api/v1/health', '/api/v1/health'), context);
    expect(degraded.statusCode).toBe(200);
    expect(JSON.parse(degraded.body ?? '{}').status).toBe('degraded');
    // Anonymous callers see a status per component: region names, no error text or latencies.
    expect(JSON.parse(degraded.body ?? '{}').replicas['eu-west-1']).toEqual({ ok: false, status: 'down' });
    const down = await setup(true)(event('GET /api/v1/health', '/api/v1/health'), context);
    expect(down.statusCode).toBe(503);
    const body = JSON.parse(down.body ?? '{}');
    expect(body.catalog).toEqual({ ok: false, status: 'down' });
    expect(JSON.stringify(body)).not.toContain('connection refused');
  });

  it('error responses carry the mode header too', async () => {
    const res = await setup()(event('GET /api/v1/files', '/api/v1/files', { authorization: 'Bearer nope' }), context);
    expect(res.statusCode).toBe(401);
    expect(res.headers?.['X-EchoFS-Mode']).toBe('H');
  });
});
