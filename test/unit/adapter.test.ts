import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { createAdapter, type LambdaHttpHandler } from '#local/adapter.js';
import { json } from '#shared/http.js';
import { createApiHandler } from '#functions/_lib/api.js';
import { logger } from '#shared/observability.js';
import { waitFor } from '../helpers/wait.js';

interface Call {
  event: APIGatewayProxyEventV2;
  context: Context;
  remaining: number;
}

const calls: Call[] = [];
let nextResult: ((e: APIGatewayProxyEventV2) => Promise<unknown>) | undefined;

const recording: LambdaHttpHandler = async (event, context) => {
  calls.push({ event, context, remaining: context.getRemainingTimeInMillis() });
  if (nextResult) return (await nextResult(event)) as never;
  return json(200, { ok: true });
};

// A real middy pipeline: proves the adapter's context satisfies middy (timeout guard, auth).
const middyLocal = createApiHandler(
  'local',
  { 'GET /api/v1/local/faults': async (req) => json(200, { user: req.user?.email }) },
  {
    authenticator: {
      authenticate: async (token) => {
        if (token !== 'admin-token') throw new (await import('#shared/errors.js')).Unauthorized();
        return { id: '1', username: 'root', email: 'root@example.com', role: 'admin' };
      },
    },
  },
);

let server: Server;
let base: string;
let webDir: string;
let noWebServer: Server;
let noWebBase: string;

async function listen(s: Server): Promise<string> {
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  webDir = await mkdtemp(join(tmpdir(), 'echofs-web-'));
  await mkdir(join(webDir, 'assets'));
  await writeFile(join(webDir, 'index.html'), '<!doctype html><title>app shell</title>');
  await writeFile(join(webDir, 'assets', 'app.js'), 'console.log("app")');
  // Far larger than a socket's buffers, so a client that leaves after the first bytes leaves mid-file.
  await writeFile(join(webDir, 'assets', 'big.bin'), Buffer.alloc(32 * 1024 * 1024, 7));
  server = createServer(
    createAdapter({
      handlers: { auth: recording, files: recording, local: middyLocal },
      webDir,
      maxJsonBytes: 1024,
      maxBinaryBytes: 4096,
      timeoutMs: 10_000,
    }),
  );
  base = await listen(server);
  noWebServer = createServer(createAdapter({ handlers: {}, webDir: join(webDir, 'missing') }));
  noWebBase = await listen(noWebServer);
});

afterAll(async () => {
  for (const s of [server, noWebServer]) {
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
  await rm(webDir, { recursive: true, force: true });
});

function lastCall(): Call {
  const c = calls.at(-1);
  if (!c) throw new Error('handler was not called');
  return c;
}

describe('local adapter: API Gateway v2 events', () => {
  it('builds the v2 event: route key with braces, raw path and query, lower-cased headers, parameters, cookies, request context', async () => {
    const res = await fetch(`${base}/api/v1/files/abc%20d/versions?limit=5&tag=a&tag=b`, {
      headers: { 'X-Custom-Thing': 'Value', Cookie: 'a=1; b=2', 'User-Agent': 'unit-test' },
    });
    expect(res.status).toBe(200);
    const { event, context, remaining } = lastCall();
    expect(event.version).toBe('2.0');
    expect(event.routeKey).toBe('GET /api/v1/files/{id}/versions');
    expect(event.rawPath).toBe('/api/v1/files/abc%20d/versions');
    expect(event.rawQueryString).toBe('limit=5&tag=a&tag=b');
    expect(event.queryStringParameters).toEqual({ limit: '5', tag: 'a,b' });
    expect(event.pathParameters).toEqual({ id: 'abc d' });
    expect(event.headers['x-custom-thing']).toBe('Value');
    expect(event.headers['cookie']).toBeUndefined();
    expect(event.cookies).toEqual(['a=1', 'b=2']);
    expect(event.requestContext.http).toMatchObject({ method: 'GET', path: '/api/v1/files/abc%20d/versions', userAgent: 'unit-test' });
    expect(event.requestContext.http.sourceIp).toMatch(/127\.0\.0\.1/);
    expect(event.requestContext.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(event.requestContext.routeKey).toBe(event.routeKey);
    expect(typeof event.requestContext.timeEpoch).toBe('number');
    expect(event.body).toBeUndefined();
    expect(event.isBase64Encoded).toBe(false);
    expect(context.awsRequestId).toBe(event.requestContext.requestId);
    expect(remaining).toBeGreaterThan(0);
    expect(remaining).toBeLessThanOrEqual(10_000);
    expect(res.headers.get('x-request-id')).toBe(event.requestContext.requestId);
  });

  it('passes a JSON body as text and a binary route body as base64, byte-exact', async () => {
    await fetch(`${base}/api/v1/auth/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"email":"é@x.io"}' });
    expect(lastCall().event.isBase64Encoded).toBe(false);
    expect(lastCall().event.body).toBe('{"email":"é@x.io"}');

    const bytes = Buffer.from([0, 1, 2, 250, 251, 255, 10, 13]);
    await fetch(`${base}/api/v1/uploads/u1/chunks/h1`, { method: 'PUT', headers: { 'Content-Type': 'application/octet-stream' }, body: bytes });
    const e = lastCall().event;
    expect(e.routeKey).toBe('PUT /api/v1/uploads/{id}/chunks/{hash}');
    expect(e.pathParameters).toEqual({ id: 'u1', hash: 'h1' });
    expect(e.isBase64Encoded).toBe(true);
    expect(Buffer.from(e.body ?? '', 'base64').equals(bytes)).toBe(true);
  });

  it('hands a binary body to the handler as the received bytes (no base64 round trip), and event.body still reads as their base64', async () => {
    const bytes = Buffer.from([0, 1, 2, 250, 251, 255, 10, 13]);
    let seen: Buffer | undefined;
    const chunkPut = createApiHandler('files', { 'PUT /api/v1/uploads/{id}/chunks/{hash}': async (req) => ((seen = req.rawBody()), json(200, { ok: true })) }, {
      authenticator: { authenticate: async () => ({ id: '1', username: 'u', email: 'u@example.com', role: 'user' }) },
    });
    nextResult = (e) => chunkPut(e, { ...lastCall().context });
    const res = await fetch(`${base}/api/v1/uploads/${'0'.repeat(8)}-0000-4000-8000-${'0'.repeat(12)}/chunks/${'a'.repeat(64)}`, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/octet-stream', Authorization: 'Bearer t' },
      body: bytes,
    });
    nextResult = undefined;
    expect(res.status).toBe(200);
    expect(seen?.equals(bytes)).toBe(true);
    const e = lastCall().event;
    expect(e.isBase64Encoded).toBe(true);
    expect(e.body).toBe(bytes.toString('base64'));
    expect(JSON.parse(JSON.stringify(e)).body).toBe(bytes.toString('base64'));
  });

  it('base64-encodes a non-text content type even on a JSON route', async () => {
    await fetch(`${base}/api/v1/auth/login`, { method: 'POST', headers: { 'Content-Type': 'image/png' }, body: Buffer.from([137, 80, 78, 71]) });
    const e = lastCall().event;
    expect(e.isBase64Encoded).toBe(true);
    expect(Buffer.from(e.body ?? '', 'base64')).toEqual(Buffer.from([137, 80, 78, 71]));
  });

  it('writes status, headers and a base64 body from the result', async () => {
    nextResult = async () => ({ statusCode: 201, headers: { 'Content-Type': 'application/octet-stream', 'X-Thing': 'yes' }, body: Buffer.from([9, 8, 7]).toString('base64'), isBase64Encoded: true });
    const res = await fetch(`${base}/api/v1/auth/register`, { method: 'POST', body: '{}' });
    nextResult = undefined;
    expect(res.status).toBe(201);
    expect(res.headers.get('x-thing')).toBe('yes');
    expect(Buffer.from(await res.arrayBuffer())).toEqual(Buffer.from([9, 8, 7]));
  });

  it('pipes a streamed result body', async () => {
    const parts = ['alpha-', 'beta-', 'gamma'];
    nextResult = async () => ({ statusCode: 200, headers: { 'Content-Type': 'text/plain' }, stream: Readable.from(parts.map((p) => Buffer.from(p))) });
    const res = await fetch(`${base}/api/v1/files/f1/download`);
    nextResult = undefined;
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('alpha-beta-gamma');
  });

  it('runs a real middy handler: auth from the route table, 401 without a token, 200 with one', async () => {
    const anon = await fetch(`${base}/api/v1/local/faults`);
    expect(anon.status).toBe(401);
    expect(await anon.json()).toMatchObject({ success: false, error: { code: 'unauthorized' } });
    const ok = await fetch(`${base}/api/v1/local/faults`, { headers: { Authorization: 'Bearer admin-token' } });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ user: 'root@example.com' });
  });

  it('answers a handler failure with a JSON 500 carrying a request id, without the error text', async () => {
    nextResult = async () => {
      throw new Error('secret internals');
    };
    const res = await fetch(`${base}/api/v1/auth/me`);
    nextResult = undefined;
    expect(res.status).toBe(500);
    const body = (await res.json()) as { error: { code: string; message: string; request_id: string } };
    expect(body.error.code).toBe('internal_error');
    expect(body.error.request_id).toBeTruthy();
    expect(JSON.stringify(body)).not.toContain('secret internals');
  });
});

describe('local adapter: routing errors and limits', () => {
  it('answers an unknown /api or /v1 path with a JSON 404', async () => {
    for (const path of ['/api/v1/nope', '/v1/nope', '/api']) {
      const res = await fetch(`${base}${path}`);
      expect(res.status, path).toBe(404);
      expect(await res.json()).toMatchObject({ success: false, error: { code: 'not_found' } });
    }
  });

  it('answers a known path with the wrong method with a JSON 405 and an Allow header', async () => {
    const res = await fetch(`${base}/api/v1/auth/login`, { method: 'GET' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST');
    expect(await res.json()).toMatchObject({ success: false, error: { code: 'method_not_allowed' } });
  });

  it('answers 501 for a route whose function is not wired', async () => {
    const res = await fetch(`${base}/v1/mode?object_id=x`);
    expect(res.status).toBe(501);
    expect(await res.json()).toMatchObject({ success: false, error: { code: 'not_implemented' } });
  });

  it('rejects a JSON body over the limit with 413 and never calls the handler', async () => {
    const before = calls.length;
    const res = await fetch(`${base}/api/v1/auth/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ x: 'y'.repeat(2000) }) });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ success: false, error: { code: 'payload_too_large' } });
    expect(calls.length).toBe(before);
  });

  it('applies the larger binary limit to binary routes', async () => {
    const ok = await fetch(`${base}/api/v1/files/upload`, { method: 'POST', body: Buffer.alloc(3000, 1) });
    expect(ok.status).toBe(200);
    const tooBig = await fetch(`${base}/api/v1/files/upload`, { method: 'POST', body: Buffer.alloc(5000, 1) });
    expect(tooBig.status).toBe(413);
  });

  it('rejects a streamed body without Content-Length once it passes the limit', async () => {
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < 4; i++) c.enqueue(new Uint8Array(600).fill(65));
        c.close();
      },
    });
    const res = await fetch(`${base}/api/v1/auth/login`, { method: 'POST', body, duplex: 'half' } as RequestInit);
    expect(res.status).toBe(413);
  });
});

describe('local adapter: web app', () => {
  it('serves built files with their content type', async () => {
    const res = await fetch(`${base}/assets/app.js`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/javascript/);
    expect(await res.text()).toBe('console.log("app")');
  });

  it('falls back to index.html for client-side routes, but not for missing assets', async () => {
    for (const path of ['/', '/files/123', '/admin']) {
      const res = await fetch(`${base}${path}`);
      expect(res.status, path).toBe(200);
      expect(await res.text()).toContain('app shell');
    }
    expect((await fetch(`${base}/assets/missing.js`)).status).toBe(404);
  });

  it('a client that leaves in the middle of a file is no server error, and the server goes on serving', async () => {
    const errors = vi.spyOn(logger, 'error');
    const debug = vi.spyOn(logger, 'debug');
    try {
      await new Promise<void>((resolve, reject) => {
        const req = request(`${base}/assets/big.bin`, (res) => {
          expect(res.statusCode).toBe(200);
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        });
        req.on('error', (err) => (req.destroyed ? undefined : reject(err)));
        req.end();
      });
      await waitFor(() => debug.mock.calls.some(([m]) => m === 'static file answer ended early'), 'the server to see the client leave');
      expect(errors.mock.calls.map(([m]) => m)).toEqual([]);
      const next = await fetch(`${base}/assets/app.js`);
      expect(await next.text()).toBe('console.log("app")');
    } finally {
      errors.mockRestore();
      debug.mockRestore();
    }
  });

  it('never serves files outside the web directory', async () => {
    const res = await fetch(`${base}/%2e%2e/%2e%2e/package.json`);
    expect(await res.text()).not.toContain('"name"');
  });

  it('explains that the web app is not built when web/dist is missing', async () => {
    const res = await fetch(`${noWebBase}/`);
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/not built[\s\S]*npm run build:web/);
  });
});
