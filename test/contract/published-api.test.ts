/**
 * The published EchoFS API, route by route, against the in-process local stack: each answer has
 * every published field with its published type, and no field that is neither published nor one
 * of our documented extensions (test/contract/shapes.ts, the README's API table).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack, type TestUser } from '../helpers/stack.js';
import { SHAPES, shapeErrors, type Shape } from './shapes.js';

let stack: TestStack;
let alice: TestUser;
let admin: TestUser;

beforeAll(async () => {
  stack = await startTestStack({}, { schedules: false });
  alice = await stack.register();
  admin = await stack.registerAdmin();
});

afterAll(() => stack?.stop());

function conforms(value: unknown, shape: Shape, where: string): void {
  expect(shapeErrors(value, shape, where), JSON.stringify(value)).toEqual([]);
}

/** POST /api/v1/files/upload as the published API sends it: multipart/form-data, field `file`. */
async function upload(token: string, name: string, data: Buffer) {
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(data)]), name);
  const res = await fetch(`${stack.url}/api/v1/files/upload`, { method: 'POST', body: form, headers: { Authorization: `Bearer ${token}` } });
  return { status: res.status, body: (await res.json()) as { success: boolean; data: Record<string, unknown> } };
}

describe('published API: auth', () => {
  it('POST /api/v1/auth/register answers {success, token, user: {id, username, email, role}}', async () => {
    const id = randomBytes(4).toString('hex');
    const r = await stack.fetchJson('/api/v1/auth/register', { body: { username: `c_${id}`, email: `c-${id}@echofs.test`, password: 'contract-pass-1' } });
    expect(r.status).toBe(201);
    conforms(r.body, SHAPES.session, 'register');
    conforms(r.body.user, SHAPES.user, 'register.user');
    expect(r.body.token.split('.')).toHaveLength(3); // a JWT
    expect(r.body.user).toMatchObject({ username: `c_${id}`, email: `c-${id}@echofs.test`, role: 'user' });
  });

  it('POST /api/v1/auth/login answers the same shape as register', async () => {
    const r = await stack.fetchJson('/api/v1/auth/login', { body: { email: alice.email, password: alice.password } });
    expect(r.status).toBe(200);
    conforms(r.body, SHAPES.session, 'login');
    conforms(r.body.user, SHAPES.user, 'login.user');
    expect(r.body.user.id).toBe(alice.user.id);
  });

  it('GET /api/v1/auth/profile answers the user (id, username, email, role) for a bearer token, 401 without', async () => {
    const r = await stack.fetchJson('/api/v1/auth/profile', { token: alice.token });
    expect(r.status).toBe(200);
    conforms(r.body, SHAPES.profile, 'profile');
    conforms(r.body.user, SHAPES.user, 'profile.user');
    expect(r.body.user).toEqual({ id: alice.user.id, username: alice.username, email: alice.email, role: 'user' });
    expect((await stack.fetchJson('/api/v1/auth/profile')).status).toBe(401);
  });
});

describe('published API: files', () => {
  it('POST /api/v1/files/upload (multipart, field file) answers {success, data: {file_id, chunks, compressed, file_size}}', async () => {
    const data = randomBytes(1500);
    const r = await upload(alice.token, 'contract-upload.bin', data);
    expect(r.status).toBe(201);
    expect(r.body.success).toBe(true);
    expect(Object.keys(r.body).sort()).toEqual(['data', 'success']);
    conforms(r.body.data, SHAPES.uploaded, 'upload.data');
    expect(r.body.data).toMatchObject({ file_size: 1500, chunks: 1 });
  });

  it('GET /api/v1/files answers {success, data: [{file_id, name, size, uploaded, chunks}, …]}: data is an array', async () => {
    const bob = await stack.register();
    const a = await upload(bob.token, 'b-second.txt', Buffer.from('second'));
    const b = await upload(bob.token, 'a-first.txt', Buffer.from('first!'));
    const r = await stack.fetchJson('/api/v1/files', { token: bob.token });
    expect(r.status).toBe(200);
    conforms(r.body, SHAPES.list, 'list');
    expect(Array.isArray(r.body.data)).toBe(true);
    expect(r.body.data).toHaveLength(2);
    r.body.data.forEach((item: unknown, i: number) => conforms(item, SHAPES.listItem, `list.data[${i}]`));
    // Name order; a single page carries no cursor.
    expect(r.body.data.map((f: { file_id: string }) => f.file_id)).toEqual([b.body.data.file_id, a.body.data.file_id]);
    expect(r.body.data[0]).toMatchObject({ name: 'a-first.txt', size: 6, chunks: 1 });
    expect(r.body.next_cursor).toBeNull();

    const empty = await stack.fetchJson('/api/v1/files', { token: (await stack.register()).token });
    expect(empty.body).toMatchObject({ success: true, data: [], next_cursor: null });
  });

  it('GET /api/v1/files/{file_id}/download answers the file’s bytes', async () => {
    const data = randomBytes(2 * 1024 * 1024 + 11);
    const up = await upload(alice.token, 'contract-download.bin', data);
    const res = await fetch(`${stack.url}/api/v1/files/${String(up.body.data.file_id)}/download`, { headers: { Authorization: `Bearer ${alice.token}` } });
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(data)).toBe(true);
  });

  it('DELETE /api/v1/files/{file_id} answers {success: true, message: "File deleted successfully"}', async () => {
    const up = await upload(alice.token, 'contract-delete.bin', Buffer.from('bye'));
    const id = String(up.body.data.file_id);
    const r = await stack.fetchJson(`/api/v1/files/${id}`, { method: 'DELETE', token: alice.token });
    expect(r.status).toBe(200);
    conforms(r.body, SHAPES.deleted, 'delete');
    expect(r.body.message).toBe('File deleted successfully');
    const bin = await stack.fetchJson('/api/v1/files?deleted=true', { token: alice.token });
    const item = bin.body.data.find((f: { file_id: string }) => f.file_id === id);
    conforms(item, SHAPES.listItem, 'bin.data[]');
  });

  it('GET /api/v1/health answers the health of the service without a token', async () => {
    const r = await stack.fetchJson('/api/v1/health');
    expect(r.status).toBe(200);
    conforms(r.body, SHAPES.health, 'health');
    expect(r.body.status).toBe('ok');
  });
});

describe('published API: consistency controller', () => {
  it('GET /v1/mode?object_id=<file id> answers {object_id, mode: C|H|A, reason, timestamp}', async () => {
    const up = await upload(alice.token, 'contract-mode.bin', Buffer.from('m'));
    const id = String(up.body.data.file_id);
    const r = await stack.fetchJson(`/v1/mode?object_id=${id}`, { token: alice.token });
    expect(r.status).toBe(200);
    conforms(r.body, SHAPES.mode, 'mode');
    expect(r.body.object_id).toBe(id);
    // The published example's object id is any string (file123).
    const other = await stack.fetchJson('/v1/mode?object_id=file123', { token: alice.token });
    conforms(other.body, SHAPES.mode, 'mode(file123)');
    expect(other.body.object_id).toBe('file123');
  });

  it('POST /v1/hint {object_id, hint} acknowledges, and the mode follows the hint', async () => {
    const up = await upload(alice.token, 'contract-hint.bin', Buffer.from('h'));
    const id = String(up.body.data.file_id);
    const r = await stack.fetchJson('/v1/hint', { token: alice.token, body: { object_id: id, hint: 'strong' } });
    expect(r.status).toBe(200);
    conforms(r.body, SHAPES.hint, 'hint');
    expect(r.body).toMatchObject({ success: true, object_id: id, hint: 'strong', mode: 'C' });
  });

  it('POST /v1/override (admin) acknowledges a global override, and DELETE clears it', async () => {
    const r = await stack.fetchJson('/v1/override', { token: admin.token, body: { mode: 'A' } });
    expect(r.status).toBe(200);
    conforms(r.body, SHAPES.override, 'override');
    expect(r.body).toMatchObject({ mode: 'A', object_id: null });
    const mode = await stack.fetchJson('/v1/mode?object_id=anything', { token: alice.token });
    expect(mode.body.mode).toBe('A');
    expect((await stack.fetchJson('/v1/override', { method: 'DELETE', token: admin.token })).status).toBe(200);
    expect((await stack.fetchJson('/v1/override', { token: alice.token, body: { mode: 'A' } })).status).toBe(403);
  });

  it('GET /v1/critical-keys (admin) answers the always-strong keys', async () => {
    expect((await stack.fetchJson('/v1/critical-keys', { token: admin.token, body: { key: 'ledger-*' } })).status).toBe(201);
    const r = await stack.fetchJson('/v1/critical-keys', { token: admin.token });
    expect(r.status).toBe(200);
    conforms(r.body, SHAPES.criticalKeys, 'critical-keys');
    expect(r.body.critical_keys).toContain('ledger-*');
    expect(r.body.count).toBe(r.body.critical_keys.length);
    const mode = await stack.fetchJson('/v1/mode?object_id=ledger-2024', { token: alice.token });
    expect(mode.body.mode).toBe('C');
  });

  it('GET /health and GET /status answer the controller’s health and status at their published paths, as /v1/health and /v1/status do', async () => {
    const h = await stack.fetchJson('/health');
    expect(h.status).toBe(200);
    expect(h.headers.get('content-type')).toMatch(/json/);
    conforms(h.body, SHAPES.controllerHealth, 'GET /health');
    const v1 = await stack.fetchJson('/v1/health');
    expect(Object.keys(h.body).sort()).toEqual(Object.keys(v1.body).sort());

    const s = await stack.fetchJson('/status', { token: alice.token });
    expect(s.status).toBe(200);
    const sv1 = await stack.fetchJson('/v1/status', { token: alice.token });
    expect(Object.keys(s.body).sort()).toEqual(Object.keys(sv1.body).sort());
    expect(['C', 'H', 'A']).toContain(s.body.mode);
    expect((await stack.fetchJson('/status')).status).toBe(401);
  });
});
