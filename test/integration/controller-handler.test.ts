/**
 * The controller API (/v1/*) through its Lambda handler, state in a real dynalite.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import dynalite from 'dynalite';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Context } from 'aws-lambda';
import { createDynamoClients } from '#shared/clients.js';
import { DEFAULT_CONTROLLER } from '#shared/config.js';
import { Unauthorized } from '#shared/errors.js';
import type { AuthUser, Authenticator } from '#shared/http.js';
import type { ApiEvent } from '#functions/_lib/api.js';
import { DynamoControllerStore } from '#shared/controller/dynamo-store.js';
import { ControllerService } from '#shared/controller/service.js';
import { createHandler } from '#functions/controller/handler.js';

const REGIONS = ['us-east-1', 'eu-west-1', 'ap-southeast-1'];
const alice: AuthUser = { id: '11111111-1111-4111-8111-111111111111', username: 'alice', email: 'alice@example.com', role: 'user' };
const bob: AuthUser = { id: '55555555-5555-4555-8555-555555555555', username: 'bob', email: 'bob@example.com', role: 'user' };
const admin: AuthUser = { id: '22222222-2222-4222-8222-222222222222', username: 'root', email: 'admin@example.com', role: 'admin' };
const fileId = '33333333-3333-4333-8333-333333333333';
const tokens: Record<string, AuthUser> = { alice, bob, admin };
const authenticator: Authenticator = {
  authenticate: async (token) => {
    const u = tokens[token];
    if (!u) throw new Unauthorized();
    return u;
  },
};

let server: Server;
let handler: ReturnType<typeof createHandler>;

const context = { awsRequestId: 'req-1', getRemainingTimeInMillis: () => 30_000 } as unknown as Context;

async function call(method: string, path: string, o: { token?: string; query?: Record<string, string>; body?: unknown } = {}) {
  const event = {
    version: '2.0',
    routeKey: `${method} ${path}`,
    rawPath: path,
    rawQueryString: new URLSearchParams(o.query ?? {}).toString(),
    headers: { ...(o.token ? { authorization: `Bearer ${o.token}` } : {}), 'content-type': 'application/json' },
    queryStringParameters: o.query,
    body: o.body === undefined ? undefined : JSON.stringify(o.body),
    isBase64Encoded: false,
    requestContext: { requestId: `r-${Math.random()}`, http: { method, path } },
  } as unknown as ApiEvent;
  const r = await handler(event, context);
  return { status: r.statusCode, body: JSON.parse(r.body ?? 'null') as Record<string, unknown> & { error?: { code: string } } };
}

beforeAll(async () => {
  server = dynalite({ createTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { client, doc } = createDynamoClients({ region: 'us-east-1', endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
  const store = new DynamoControllerStore({ client, doc, table: 'controller-api' });
  await store.ensureTable();
  const controller = new ControllerService({
    store,
    regions: REGIONS,
    controller: { ...DEFAULT_CONTROLLER, modeCacheMs: 50 },
    owners: { lookup: async (id) => (id === fileId ? { ownerId: alice.id, name: 'notes.txt' } : undefined) },
  });
  handler = createHandler({ controller, authenticator });
});

afterAll(async () => {
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
});

describe('controller API', () => {
  it('GET /v1/mode answers the original shape', async () => {
    const r = await call('GET', '/v1/mode', { token: 'alice', query: { object_id: 'a/b.txt' } });
    expect(r.status).toBe(200);
    expect(Object.keys(r.body).sort()).toEqual(['mode', 'object_id', 'reason', 'timestamp']);
    expect(r.body).toMatchObject({ object_id: 'a/b.txt', mode: 'C' });
    expect(Number.isNaN(Date.parse(String(r.body.timestamp)))).toBe(false);
    expect((await call('GET', '/v1/mode', { query: { object_id: 'x' } })).status).toBe(401);
  });

  it('POST /v1/hint: the owner may, another user may not, an admin may hint any id', async () => {
    const own = await call('POST', '/v1/hint', { token: 'alice', body: { object_id: fileId, hint: 'available' } });
    expect(own.status).toBe(200);
    expect(own.body).toMatchObject({ object_id: fileId, hint: 'available', mode: 'H' });
    const other = await call('POST', '/v1/hint', { token: 'bob', body: { object_id: fileId, hint: 'strong' } });
    expect(other.status).toBe(404);
    const unknown = await call('POST', '/v1/hint', { token: 'alice', body: { object_id: 'not-a-file', hint: 'strong' } });
    expect(unknown.status).toBe(404);
    expect((await call('POST', '/v1/hint', { token: 'admin', body: { object_id: 'not-a-file', hint: 'strong' } })).status).toBe(200);
    const bad = await call('POST', '/v1/hint', { token: 'alice', body: { object_id: fileId, hint: 'fast' } });
    expect(bad.status).toBe(400);
    expect(bad.body.error?.code).toBe('invalid_field');
  });

  it('overrides: admin only; set, read back through /v1/mode, clear; 404 when none', async () => {
    expect((await call('POST', '/v1/override', { token: 'alice', body: { mode: 'A' } })).status).toBe(403);
    expect((await call('POST', '/v1/override', { token: 'admin', body: { mode: 'available', object_id: 'o1' } })).status).toBe(200);
    expect((await call('GET', '/v1/mode', { token: 'alice', query: { object_id: 'o1' } })).body.mode).toBe('A');
    expect((await call('POST', '/v1/override', { token: 'admin', body: { mode: 'X' } })).status).toBe(400);
    expect((await call('DELETE', '/v1/override', { token: 'admin', query: { object_id: 'o1' } })).status).toBe(200);
    expect((await call('DELETE', '/v1/override', { token: 'admin', query: { object_id: 'o1' } })).status).toBe(404);
    expect((await call('GET', '/v1/mode', { token: 'alice', query: { object_id: 'o1' } })).body.mode).toBe('C');
  });

  it('critical keys: add, list, delete (query or body), admin only', async () => {
    expect((await call('GET', '/v1/critical-keys', { token: 'alice' })).status).toBe(403);
    expect((await call('POST', '/v1/critical-keys', { token: 'admin', body: { key: 'ledger.db' } })).status).toBe(201);
    expect((await call('POST', '/v1/critical-keys', { token: 'admin', body: { object_id: 'payroll.csv' } })).status).toBe(201);
    expect((await call('GET', '/v1/critical-keys', { token: 'admin' })).body.critical_keys).toEqual(['ledger.db', 'payroll.csv']);
    await call('POST', '/v1/override', { token: 'admin', body: { mode: 'A' } });
    expect((await call('GET', '/v1/mode', { token: 'alice', query: { object_id: 'ledger.db' } })).body.mode).toBe('C');
    await call('DELETE', '/v1/override', { token: 'admin' });
    expect((await call('DELETE', '/v1/critical-keys', { token: 'admin', query: { key: 'ledger.db' } })).status).toBe(200);
    expect((await call('DELETE', '/v1/critical-keys', { token: 'admin', body: { key: 'payroll.csv' } })).status).toBe(200);
    expect((await call('DELETE', '/v1/critical-keys', { token: 'admin', body: { key: 'payroll.csv' } })).status).toBe(404);
    expect((await call('POST', '/v1/critical-keys', { token: 'admin', body: {} })).status).toBe(400);
  });

  it('health, status and audit', async () => {
    const h = await call('GET', '/v1/health');
    expect(h.status).toBe(200);
    expect(h.body).toMatchObject({ status: 'healthy', total: 3, reachable: 3, quorum_available: true, controller_store: 'ok' });
    const s = await call('GET', '/v1/status', { token: 'alice' });
    expect(s.status).toBe(200);
    expect(s.body).toMatchObject({ mode: 'C', backlog: { pending: 0, missing: 0 }, replication_lag_ms: 0 });
    expect(s.body.replicas).toHaveLength(3);
    expect((await call('GET', '/v1/audit', { token: 'alice' })).status).toBe(403);
    const a = await call('GET', '/v1/audit', { token: 'admin', query: { limit: '3' } });
    expect(a.status).toBe(200);
    const entries = a.body.entries as { action: string; time: string }[];
    expect(entries).toHaveLength(3);
    expect(entries[0]?.action).toBe('remove_critical_key');
    expect(entries.map((e) => e.time)).toEqual([...entries.map((e) => e.time)].sort().reverse());
    const next = await call('GET', '/v1/audit', { token: 'admin', query: { limit: '3', cursor: String(a.body.next_cursor) } });
    expect((next.body.entries as unknown[]).length).toBe(3);
  });

  it('status carries the weights, the health window and the overrides and hints by object', async () => {
    expect((await call('POST', '/v1/override', { token: 'admin', body: { mode: 'A', object_id: 'big/scratch.bin' } })).status).toBe(200);
    expect((await call('POST', '/v1/hint', { token: 'admin', body: { object_id: 'photos/*', hint: 'available' } })).status).toBe(200);
    const s = await call('GET', '/v1/status', { token: 'admin' });
    expect(s.body).toMatchObject({
      weights: DEFAULT_CONTROLLER.weights,
      health_window: { operations: 50 },
      emergency: false,
      object_override_list: [{ object_id: 'big/scratch.bin', mode: 'A', actor: 'admin@example.com' }],
    });
    expect(s.body.hints).toContainEqual({ object_id: 'photos/*', hint: 'available' });
    await call('DELETE', '/v1/override', { token: 'admin', query: { object_id: 'big/scratch.bin' } });
  });

  it('GET /v1/history: admin only; the window validated (a bad time names the field, over 24 h names the cap); overrides are events', async () => {
    expect((await call('GET', '/v1/history', { token: 'alice' })).status).toBe(403);
    const bad = await call('GET', '/v1/history', { token: 'admin', query: { from: 'an hour ago' } });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ code: 'invalid_field', field: 'from' });
    const badTo = await call('GET', '/v1/history', { token: 'admin', query: { to: '2026-02-30Tnoon' } });
    expect([badTo.status, (badTo.body.error as unknown as { field?: string }).field]).toEqual([400, 'to']);
    const long = await call('GET', '/v1/history', { token: 'admin', query: { from: String(Date.now() - 25 * 3_600_000) } });
    expect(long.status).toBe(400);
    expect((long.body.error as unknown as { message: string }).message).toMatch(/at most 24 h/);
    const now = Date.now();
    const h = await call('GET', '/v1/history', { token: 'admin', query: { from: String(now - 600_000), to: String(now) } });
    expect(h.status).toBe(200);
    expect(h.body).toMatchObject({ success: true, window_ms: 600_000, max_window_ms: 86_400_000, bucket_ms: 0, truncated: false });
    const kinds = (h.body.events as { kind: string }[]).map((e) => e.kind);
    expect(kinds).toContain('override_set');
    expect(kinds).toContain('override_cleared');
    expect(kinds).toContain('critical_key_added');
  });
});
