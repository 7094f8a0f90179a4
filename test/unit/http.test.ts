/**
 * The shared HTTP pipeline: typed errors become their status and JSON body; anything else becomes
 * a generic 500 with a request id, and what is logged of it never carries a failed query's bound
 * parameters (they may hold password hashes).
 */
import { describe, expect, it } from 'vitest';
import type { Context } from 'aws-lambda';
import type { Logger } from '@aws-lambda-powertools/logger';
import { json } from '#shared/http.js';
import { createApiHandler, type ApiEvent } from '#functions/_lib/api.js';
import { Conflict, Unavailable } from '#shared/errors.js';

function event(routeKey: string, path: string): ApiEvent {
  return {
    version: '2.0',
    routeKey,
    rawPath: path,
    rawQueryString: '',
    headers: {},
    isBase64Encoded: false,
    requestContext: { requestId: 'req-1', http: { method: routeKey.split(' ')[0]!, path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 't' } },
  } as unknown as ApiEvent;
}
const context = { awsRequestId: 'aws-1', getRemainingTimeInMillis: () => 30_000 } as unknown as Context;

function capturingLogger() {
  const errors: unknown[] = [];
  const log = { error: (_m: string, extra: unknown) => void errors.push(extra), warn: () => undefined, info: () => undefined } as unknown as Logger;
  return { log, errors };
}

describe('createApiHandler', () => {
  it('maps a typed error to its status and {success:false, error:{code,message}}', async () => {
    const h = createApiHandler('files', { 'GET /api/v1/health': async () => Promise.reject(new Conflict('Name taken.', 'name_taken')) });
    const r = await h(event('GET /api/v1/health', '/api/v1/health'), context);
    expect(r.statusCode).toBe(409);
    expect(JSON.parse(r.body!)).toMatchObject({ success: false, error: { code: 'name_taken', message: 'Name taken.' } });
    expect(r.headers?.['X-Request-Id']).toBe('req-1');
  });

  it('answers 500 with only a request id for an unexpected error and logs it without query parameters', async () => {
    const { log, errors } = capturingLogger();
    const queryError = Object.assign(new Error('Failed query: insert into users values ($1, $2)\nparams: alice,$2a$10$secrethash'), {
      query: 'insert into users values ($1, $2)',
      params: ['alice', '$2a$10$secrethash'],
      cause: { message: 'internal failure', code: 'XX000' },
    });
    const h = createApiHandler('files', { 'GET /api/v1/health': async () => Promise.reject(queryError) }, { logger: log });
    const r = await h(event('GET /api/v1/health', '/api/v1/health'), context);
    expect(r.statusCode).toBe(500);
    const body = JSON.parse(r.body!) as { error: { code: string; message: string; request_id: string } };
    expect(body.error.code).toBe('internal_error');
    expect(body.error.request_id).toBe('req-1');
    expect(r.body).not.toContain('secrethash');
    const logged = JSON.stringify(errors, (_k, v: unknown) => (v instanceof Error ? { ...v, message: v.message } : v));
    expect(logged).toContain('internal failure');
    expect(logged).not.toContain('secrethash');
  });

  it('passes a handler result through and stamps the request id', async () => {
    const h = createApiHandler('files', { 'GET /api/v1/health': async () => json(200, { ok: true }) });
    const r = await h(event('GET /api/v1/health', '/api/v1/health'), context);
    expect(r.statusCode).toBe(200);
    expect(r.headers?.['X-Request-Id']).toBe('req-1');
  });

  it('answers 503 catalog_unavailable with Retry-After when the catalog becomes unreachable after the cold start', async () => {
    const { log } = capturingLogger();
    const lost = Object.assign(new Error('Failed query: select 1'), { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }) });
    const h = createApiHandler('files', { 'GET /api/v1/health': async () => Promise.reject(lost) }, { logger: log });
    const r = await h(event('GET /api/v1/health', '/api/v1/health'), context);
    expect(r.statusCode).toBe(503);
    expect(r.headers?.['Retry-After']).toBe('5');
    const body = JSON.parse(r.body!) as { error: { code: string; message: string; request_id: string } };
    expect(body.error.code).toBe('catalog_unavailable');
    expect(body.error.request_id).toBe('req-1');
    expect(r.body).not.toContain('ECONNREFUSED');
  });

  it('a 5xx typed error reaches the client as its code, details and request id, never its internal text', async () => {
    const warned: unknown[] = [];
    const log = { error: () => undefined, warn: (_m: string, extra: unknown) => void warned.push(extra), info: () => undefined } as unknown as Logger;
    const err = new Unavailable('Strong write needs 2 of 3 replicas (eu-west-1: connect ECONNRESET 127.0.0.1:33029)', 5, 'replicas_unavailable', { mode: 'C', acked: ['us-east-1'], needed: 2 });
    const h = createApiHandler('files', { 'GET /api/v1/health': async () => Promise.reject(err) }, { logger: log });
    const r = await h(event('GET /api/v1/health', '/api/v1/health'), context);
    expect(r.statusCode).toBe(503);
    expect(r.body).not.toContain('ECONNRESET');
    expect(JSON.parse(r.body!)).toMatchObject({ error: { code: 'replicas_unavailable', acked: ['us-east-1'], needed: 2, request_id: 'req-1' } });
    expect(JSON.stringify(warned)).toContain('ECONNRESET');
    expect(JSON.stringify(warned)).toContain('req-1');
  });
});
