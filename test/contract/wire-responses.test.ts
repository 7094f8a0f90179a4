/**
 * Every route's real answers against its declared response schema (shared/wire/responses.ts):
 * a walk through the whole route table on the in-process local stack, each answer parsed by the
 * schema of its route and status. A body that does not parse, a field the schema does not declare
 * (a parse strips it, so the parsed value differs from the body), a status the route does not
 * declare, or a route the walk never reached with a success fails the test.
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { matchRoute, routeKey, routes } from '#shared/routes.js';
import { isRawBody, responses, responseSchemaFor, responseSpec } from '#shared/wire/responses.js';
import { startTestStack, type FetchJsonInit, type JsonResponse, type TestStack, type TestUser } from '../helpers/stack.js';

let stack: TestStack;
let alice: TestUser;
let admin: TestUser;
/** Route key → the statuses it answered in this walk. */
const answered = new Map<string, Set<number>>();

beforeAll(async () => {
  stack = await startTestStack({}, { schedules: false });
  alice = await stack.register();
  admin = await stack.registerAdmin();
});

afterAll(() => stack?.stop());

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- bodies are checked against their schema here
type AnyJson = any;

/** Send a request, then hold its answer to the declared schema of its route and status. */
async function call(method: string, path: string, init: FetchJsonInit = {}): Promise<JsonResponse<AnyJson>> {
  const r = await stack.fetchJson(path, { ...init, method });
  const match = matchRoute(method, path.split('?')[0] as string);
  expect(match, `${method} ${path} matches no route`).toBeDefined();
  const key = routeKey(match!.route);
  const schema = responseSchemaFor(key, r.status);
  const where = `${key} → ${r.status} ${typeof r.body === 'string' ? r.body.slice(0, 200) : JSON.stringify(r.body).slice(0, 400)}`;
  expect(schema, `${where}: status not declared in shared/wire/responses.ts`).toBeDefined();
  if (isRawBody(schema)) {
    expect(r.headers.get('content-type') ?? '', where).not.toMatch(/json/);
    if (schema.raw === 'empty') expect(r.body, where).toBe('');
  } else {
    const parsed = schema!.safeParse(r.body);
    expect(parsed.error?.issues ?? [], where).toEqual([]);
    // A parse strips fields the schema does not declare: equal means nothing is undeclared.
    expect(parsed.data, `${where}: a field is not declared`).toEqual(r.body);
  }
  const set = answered.get(key) ?? new Set<number>();
  set.add(r.status);
  answered.set(key, set);
  return r;
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function upload(token: string, name: string, data: Buffer): Promise<string> {
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(data)]), name);
  const res = await fetch(`${stack.url}/api/v1/files/upload`, { method: 'POST', body: form, headers: { Authorization: `Bearer ${token}` } });
  const body = (await res.json()) as AnyJson;
  const schema = responseSchemaFor('POST /api/v1/files/upload', res.status);
  expect(schema && !isRawBody(schema) ? schema.parse(body) : undefined).toEqual(body);
  answered.set('POST /api/v1/files/upload', new Set([...(answered.get('POST /api/v1/files/upload') ?? []), res.status]));
  expect(res.status).toBe(201);
  return String(body.data.file_id);
}

describe('every response matches its declared schema', () => {
  it('auth routes', async () => {
    const id = randomBytes(4).toString('hex');
    const reg = await call('POST', '/api/v1/auth/register', { body: { username: `w_${id}`, email: `w-${id}@echofs.test`, password: 'wire-pass-1' } });
    expect(reg.status).toBe(201);
    expect((await call('POST', '/api/v1/auth/login', { body: { email: `w-${id}@echofs.test`, password: 'wire-pass-1' } })).status).toBe(200);
    expect((await call('POST', '/api/v1/auth/login', { body: { email: `w-${id}@echofs.test`, password: 'wrong-pass-1' } })).status).toBe(401);
    expect((await call('GET', '/api/v1/auth/profile', { token: reg.body.token })).status).toBe(200);
    expect((await call('GET', '/api/v1/auth/profile')).status).toBe(401);
    expect((await call('GET', '/api/v1/auth/me', { token: reg.body.token })).status).toBe(200);
    // The admin claim: an address of the admin list becomes (or stays) an administrator; others are refused.
    expect((await call('POST', '/api/v1/auth/admin/claim', { token: admin.token })).status).toBe(200);
    expect((await call('POST', '/api/v1/auth/admin/claim', { token: reg.body.token })).status).toBe(403);
    const pw = await call('POST', '/api/v1/auth/password', { token: reg.body.token, body: { current_password: 'wire-pass-1', new_password: 'wire-pass-2' } });
    expect(pw.status).toBe(200);
    expect((await call('POST', '/api/v1/auth/logout', { token: pw.body.token })).status).toBe(200);
  });

  it('health and the OpenAPI document, anonymous and admin', async () => {
    expect((await call('GET', '/api/v1/health')).status).toBe(200);
    expect((await call('GET', '/api/v1/health', { token: admin.token })).status).toBe(200);
    expect((await call('GET', '/api/v1/openapi.json')).status).toBe(200);
    for (const path of ['/health', '/v1/health']) {
      expect((await call('GET', path)).status).toBe(200);
      expect((await call('GET', path, { token: admin.token })).status).toBe(200);
    }
  });

  it('file routes', async () => {
    const data = randomBytes(3000);
    const id = await upload(alice.token, 'wire-file.bin', data);
    expect((await call('GET', '/api/v1/files', { token: alice.token })).status).toBe(200);
    expect((await call('GET', '/api/v1/files?limit=1', { token: alice.token })).status).toBe(200);
    expect((await call('GET', `/api/v1/files/${id}`, { token: alice.token })).status).toBe(200);
    expect((await call('GET', '/api/v1/files/not-a-uuid', { token: alice.token })).status).toBe(400);
    expect((await call('GET', `/api/v1/files/${id}/manifest`, { token: alice.token })).status).toBe(200);
    expect((await call('POST', `/api/v1/files/${id}/download-link`, { token: alice.token })).status).toBe(200);
    expect((await call('GET', `/api/v1/files/${id}/versions`, { token: alice.token })).status).toBe(200);
    const full = await call('GET', `/api/v1/files/${id}/download`, { token: alice.token });
    expect(full.status).toBe(200);
    expect((await call('GET', `/api/v1/files/${id}/download`, { token: alice.token, headers: { Range: 'bytes=0-9' } })).status).toBe(206);
    const etag = full.headers.get('etag') as string;
    expect((await call('GET', `/api/v1/files/${id}/download`, { token: alice.token, headers: { 'If-None-Match': etag } })).status).toBe(304);
    expect((await call('DELETE', `/api/v1/files/${id}`, { token: alice.token })).status).toBe(200);
    expect((await call('GET', '/api/v1/files?deleted=true', { token: alice.token })).status).toBe(200);
    expect((await call('POST', `/api/v1/files/${id}/restore`, { token: alice.token })).status).toBe(200);
    await upload(alice.token, 'wire-file.bin', randomBytes(100));
    expect((await call('POST', `/api/v1/files/${id}/versions/1/restore`, { token: alice.token })).status).toBe(200);
    expect((await call('POST', `/api/v1/files/${id}/versions/0/restore`, { token: alice.token })).status).toBe(400);
    expect((await call('POST', `/api/v1/files/${id}/rename`, { token: alice.token, body: { name: 'wire-renamed.bin' } })).status).toBe(200);
    expect((await call('POST', `/api/v1/files/${id}/rename`, { token: alice.token, body: { name: 'a/b' } })).status).toBe(400);
    const doomed = await upload(alice.token, 'wire-doomed.bin', randomBytes(10));
    expect((await call('DELETE', `/api/v1/files/${doomed}`, { token: alice.token })).status).toBe(200);
    expect((await call('DELETE', `/api/v1/files/${doomed}?permanent=true`, { token: alice.token })).status).toBe(200);
  });

  it('chunk session routes', async () => {
    const chunk = randomBytes(1234);
    const hash = sha256(chunk);
    const body = { name: 'wire-session.bin', size: chunk.length, sha256: hash, content_type: 'application/octet-stream', chunks: [{ hash, size: chunk.length }] };
    const s = await call('POST', '/api/v1/uploads', { token: alice.token, body });
    expect(s.status).toBe(201);
    const uid = s.body.data.upload_id as string;
    expect((await call('GET', `/api/v1/uploads/${uid}`, { token: alice.token })).status).toBe(200);
    const put = await call('PUT', `/api/v1/uploads/${uid}/chunks/${hash}`, { token: alice.token, body: new Uint8Array(chunk), headers: { 'Content-Type': 'application/octet-stream' } });
    expect(put.status).toBe(200);
    expect((await call('POST', `/api/v1/uploads/${uid}/commit`, { token: alice.token })).status).toBe(200);
    const other = await call('POST', '/api/v1/uploads', { token: alice.token, body: { ...body, name: 'wire-cancelled.bin' } });
    expect((await call('DELETE', `/api/v1/uploads/${other.body.data.upload_id as string}`, { token: alice.token })).status).toBe(200);
  });

  it('controller routes', async () => {
    const id = await upload(alice.token, 'wire-controller.bin', Buffer.from('c'));
    expect((await call('GET', `/v1/mode?object_id=${id}`, { token: alice.token })).status).toBe(200);
    expect((await call('GET', '/v1/mode', { token: alice.token })).status).toBe(200);
    expect((await call('POST', '/v1/hint', { token: alice.token, body: { object_id: id, hint: 'strong' } })).status).toBe(200);
    expect((await call('POST', '/v1/override', { token: admin.token, body: { mode: 'H' } })).status).toBe(200);
    expect((await call('POST', '/v1/override', { token: alice.token, body: { mode: 'H' } })).status).toBe(403);
    expect((await call('DELETE', '/v1/override', { token: admin.token })).status).toBe(200);
    expect((await call('POST', '/v1/critical-keys', { token: admin.token, body: { key: 'wire-ledger-*' } })).status).toBe(201);
    expect((await call('GET', '/v1/critical-keys', { token: admin.token })).status).toBe(200);
    expect((await call('DELETE', '/v1/critical-keys?key=wire-ledger-*', { token: admin.token })).status).toBe(200);
    for (const path of ['/v1/status', '/status']) {
      expect((await call('GET', path, { token: alice.token })).status).toBe(200);
      expect((await call('GET', path, { token: admin.token })).status).toBe(200);
    }
    expect((await call('GET', '/v1/audit', { token: admin.token })).status).toBe(200);
    expect((await call('GET', `/v1/history?from=${Date.now() - 60_000}`, { token: admin.token })).status).toBe(200);
    expect((await call('GET', '/v1/history?from=yesterday', { token: admin.token })).status).toBe(400);
    expect((await call('GET', '/v1/history', { token: alice.token })).status).toBe(403);
  });

  it('local fault routes', async () => {
    expect((await call('GET', '/api/v1/local/faults', { token: admin.token })).status).toBe(200);
    const region = stack.system.faults.regions()[0] as string;
    expect((await call('POST', '/api/v1/local/faults', { token: admin.token, body: { region, state: 'up' } })).status).toBe(200);
  });

  it('the schemas and the route table name the same routes, and the walk reached each with a declared success', () => {
    const tableKeys = routes.map(routeKey).sort();
    expect(Object.keys(responses).sort()).toEqual(tableKeys);
    const unreached = tableKeys.filter((k) => {
      const ok = Object.keys(responseSpec(k)?.ok ?? {}).map(Number);
      return !ok.some((s) => answered.get(k)?.has(s));
    });
    expect(unreached).toEqual([]);
  });
});
