/**
 * Validation at the edge (shared/wire/requests.ts): inputs that once reached the catalog and
 * answered 500, or were stored and broke every later download, now answer 400 naming the field.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { routes, routeKey } from '#shared/routes.js';
import { requests } from '#shared/wire/requests.js';
import { startTestStack, type TestStack, type TestUser } from '../helpers/stack.js';

let stack: TestStack;
let alice: TestUser;

beforeAll(async () => {
  stack = await startTestStack({}, { schedules: false });
  alice = await stack.register();
});
afterAll(async () => {
  await stack?.stop();
});

function rawUpload(body: string, boundary = 'zzz') {
  return fetch(`${stack.url}/api/v1/files/upload`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${alice.token}`, 'Content-Type': `multipart/form-data; boundary=${boundary}` },
    body,
  });
}

it('every route in the route table has a request schema, and every schema a route', () => {
  expect(Object.keys(requests).sort()).toEqual(routes.map(routeKey).sort());
});

describe('bad input answers 4xx naming the field, never 5xx', () => {
  it('a NUL byte in an email answers 400 naming the field, on register and on login', async () => {
    const reg = await stack.fetchJson('/api/v1/auth/register', { body: { username: 'nuller', email: 'a\u0000@b.c', password: 'long-enough-pw' } });
    expect(reg.status).toBe(400);
    expect(reg.body.error.field).toBe('email');
    const login = await stack.fetchJson('/api/v1/auth/login', { body: { email: 'a\u0000@b.c', password: 'x' } });
    expect(login.status).toBe(400);
    expect(login.body.error.field).toBe('email');
  });

  it('a 36-character id that is not a UUID answers 400 naming the id on every id route', async () => {
    const bad = '-'.repeat(36);
    const hash = 'a'.repeat(64);
    const calls: Array<[string, string]> = [
      ['GET', `/api/v1/files/${bad}`],
      ['DELETE', `/api/v1/files/${bad}`],
      ['GET', `/api/v1/files/${bad}/download`],
      ['GET', `/api/v1/files/${bad}/manifest`],
      ['GET', `/api/v1/files/${bad}/versions`],
      ['POST', `/api/v1/files/${bad}/restore`],
      ['GET', `/api/v1/uploads/${bad}`],
      ['PUT', `/api/v1/uploads/${bad}/chunks/${hash}`],
      ['POST', `/api/v1/uploads/${bad}/commit`],
      ['DELETE', `/api/v1/uploads/${bad}`],
    ];
    for (const [method, path] of calls) {
      const r = await stack.fetchJson(path, { method, token: alice.token });
      expect(r.status, `${method} ${path}`).toBe(400);
      expect(r.body.error.field, `${method} ${path}`).toBe('id');
    }
  });

  it('an upload session content_type with NUL, CRLF, non-ASCII or no subtype answers 400 naming content_type', async () => {
    const data = Buffer.from('hello');
    const sha256 = createHash('sha256').update(data).digest('hex');
    for (const contentType of ['text/plain\u0000', 'text/plain\r\nX-Evil: 1', 'text/pläin', 'text', '']) {
      const r = await stack.fetchJson('/api/v1/uploads', { token: alice.token, body: { name: 'ct.txt', size: 5, sha256, content_type: contentType, chunks: [{ hash: sha256, size: 5 }] } });
      expect(r.status, JSON.stringify(contentType)).toBe(400);
      expect(r.body.error.field).toBe('content_type');
    }
    const ok = await stack.fetchJson('/api/v1/uploads', { token: alice.token, body: { name: 'ct.txt', size: 5, sha256, content_type: 'text/plain; charset="utf-8"', chunks: [{ hash: sha256, size: 5 }] } });
    expect(ok.status).toBe(201);
  });

  it('a multipart part content type with CRLF cannot be stored: the file still downloads', async () => {
    const body = '--zzz\r\nContent-Disposition: form-data; name="file"; filename="ct.bin"\r\nContent-Type: text/plain\u00e4\r\n\r\nabc\r\n--zzz--\r\n';
    const res = await rawUpload(body);
    expect(res.status).toBeLessThan(500);
    if (res.status === 201) {
      const { data } = (await res.json()) as { data: { file_id: string } };
      const dl = await fetch(`${stack.url}/api/v1/files/${data.file_id}/download`, { headers: { Authorization: `Bearer ${alice.token}` } });
      expect(dl.status).toBe(200);
    }
  });
});

describe('sign-out', () => {
  it('POST /api/v1/auth/logout revokes every token of the account on the server; signing in again works', async () => {
    const bob = await stack.register();
    const second = await stack.fetchJson('/api/v1/auth/login', { body: { email: bob.email, password: bob.password } });
    expect(second.status).toBe(200);
    const out = await stack.fetchJson('/api/v1/auth/logout', { method: 'POST', token: bob.token });
    expect(out.status).toBe(200);
    expect((await stack.fetchJson('/api/v1/auth/me', { token: bob.token })).status).toBe(401);
    expect((await stack.fetchJson('/api/v1/auth/me', { token: second.body.token })).status).toBe(401);
    const again = await stack.fetchJson('/api/v1/auth/login', { body: { email: bob.email, password: bob.password } });
    expect((await stack.fetchJson('/api/v1/auth/me', { token: again.body.token })).status).toBe(200);
  });
});

describe('health views', () => {
  it('anonymous health shows a status per component only; an admin sees the details', async () => {
    const anon = await stack.fetchJson('/api/v1/health');
    for (const r of Object.values(anon.body.replicas) as Array<Record<string, unknown>>) expect(Object.keys(r).sort()).toEqual(['ok', 'status']);
    const admin = await stack.registerAdmin();
    const full = await stack.fetchJson('/api/v1/health', { token: admin.token });
    for (const r of Object.values(full.body.replicas) as Array<Record<string, unknown>>) expect(r).toHaveProperty('latencyMs');
    const h = await stack.fetchJson('/v1/health');
    for (const r of h.body.replicas as Array<Record<string, unknown>>) expect(r).not.toHaveProperty('last_error');
  });
});

describe('security headers', () => {
  it('pages and API JSON carry the CloudFront policy headers: CSP with frame-ancestors, Referrer-Policy, nosniff', async () => {
    for (const path of ['/', '/api/v1/health', '/api/v1/files/%ZZ']) {
      const r = await fetch(stack.url + path);
      expect(r.headers.get('content-security-policy'), path).toContain("frame-ancestors 'none'");
      expect(r.headers.get('referrer-policy'), path).toBe('strict-origin-when-cross-origin');
      expect(r.headers.get('x-content-type-options'), path).toBe('nosniff');
      expect(r.headers.get('x-frame-options'), path).toBe('DENY');
    }
  });
});
