/**
 * Critical keys, overrides and hints named by file id, over HTTP on the local stack: the answer
 * says what the key protects, the next write to that file obeys it, and an unknown file id is a
 * 404 that says so (nothing is stored to protect nothing).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack, type TestUser } from '../helpers/stack.js';

let stack: TestStack;
let alice: TestUser;
let admin: TestUser;

beforeAll(async () => {
  stack = await startTestStack({ ECHOFS_MODE_CACHE_MS: '100' }, { schedules: false });
  alice = await stack.register();
  admin = await stack.registerAdmin();
});
afterAll(async () => {
  await stack?.stop();
});

async function upload(token: string, name: string) {
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(Buffer.from(`content of ${name}`))]), name);
  const res = await fetch(`${stack.url}/api/v1/files/upload`, { method: 'POST', body: form, headers: { Authorization: `Bearer ${token}` } });
  const body = (await res.json()) as { data: { file_id: string } };
  expect(res.status, JSON.stringify(body)).toBe(201);
  return { id: body.data.file_id, mode: res.headers.get('x-echofs-mode') };
}

const UNKNOWN = '9f1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d';

describe('controller keys by file id', () => {
  it('a critical key given as a file id protects that file: strong under a global available override; others stay available', async () => {
    const ledger = await upload(alice.token, 'ledger-by-id.db');
    const add = await stack.fetchJson('/v1/critical-keys', { token: admin.token, body: { key: ledger.id } });
    expect(add.status, JSON.stringify(add.body)).toBe(201);
    expect(add.body.protects).toEqual({
      key: `${alice.user.id}/ledger-by-id.db`,
      file_id: ledger.id,
      owner_id: alice.user.id,
      name: 'ledger-by-id.db',
      prefix: false,
    });
    const list = await stack.fetchJson('/v1/critical-keys', { token: admin.token });
    expect(list.body.critical_keys).toContain(`${alice.user.id}/ledger-by-id.db`);

    try {
      expect((await stack.fetchJson('/v1/override', { token: admin.token, body: { mode: 'A' } })).status).toBe(200);
      expect((await upload(alice.token, 'ledger-by-id.db')).mode).toBe('C');
      expect((await upload(alice.token, 'not-critical.db')).mode).toBe('A');
      const mode = await stack.fetchJson(`/v1/mode?object_id=${ledger.id}`, { token: alice.token });
      expect(mode.body).toMatchObject({ object_id: ledger.id, mode: 'C', reason: 'critical key: always strong' });

      // Removing it by the same file id lifts it.
      const del = await stack.fetchJson(`/v1/critical-keys?key=${ledger.id}`, { method: 'DELETE', token: admin.token });
      expect(del.status, JSON.stringify(del.body)).toBe(200);
      expect(del.body.protects).toMatchObject({ file_id: ledger.id, name: 'ledger-by-id.db' });
      expect((await upload(alice.token, 'ledger-by-id.db')).mode).toBe('A');
    } finally {
      await stack.fetchJson('/v1/override', { method: 'DELETE', token: admin.token });
    }
  });

  it('names and prefixes still work, and the answer says they match every owner', async () => {
    const r = await stack.fetchJson('/v1/critical-keys', { token: admin.token, body: { key: 'payroll-*' } });
    expect(r.status).toBe(201);
    expect(r.body.protects).toEqual({ key: 'payroll-*', file_id: null, owner_id: null, name: 'payroll-', prefix: true });
    try {
      expect((await stack.fetchJson('/v1/override', { token: admin.token, body: { mode: 'A' } })).status).toBe(200);
      expect((await upload(alice.token, 'payroll-2026.csv')).mode).toBe('C');
      expect((await upload(alice.token, 'salaries-2026.csv')).mode).toBe('A');
    } finally {
      await stack.fetchJson('/v1/override', { method: 'DELETE', token: admin.token });
    }
  });

  it('an override and a hint given as a file id apply to that file and say what they protect', async () => {
    const f = await upload(alice.token, 'override-by-id.bin');
    const o = await stack.fetchJson('/v1/override', { token: admin.token, body: { mode: 'A', object_id: f.id } });
    expect(o.status, JSON.stringify(o.body)).toBe(200);
    expect(o.body).toMatchObject({ mode: 'A', object_id: f.id, protects: { file_id: f.id, owner_id: alice.user.id, name: 'override-by-id.bin' } });
    expect((await upload(alice.token, 'override-by-id.bin')).mode).toBe('A');
    expect((await stack.fetchJson(`/v1/override?object_id=${f.id}`, { method: 'DELETE', token: admin.token })).status).toBe(200);
    expect((await upload(alice.token, 'override-by-id.bin')).mode).toBe('C');

    const h = await stack.fetchJson('/v1/hint', { token: alice.token, body: { object_id: f.id, hint: 'available' } });
    expect(h.status, JSON.stringify(h.body)).toBe(200);
    expect(h.body).toMatchObject({ object_id: f.id, hint: 'available', mode: 'H', protects: { file_id: f.id, name: 'override-by-id.bin' } });
    expect((await upload(alice.token, 'override-by-id.bin')).mode).toBe('H');
  });

  it('an unknown file id is a 404 that names it, for critical keys, overrides and hints; nothing is stored', async () => {
    const before = (await stack.fetchJson('/v1/critical-keys', { token: admin.token })).body.count as number;
    const attempts = [
      stack.fetchJson('/v1/critical-keys', { token: admin.token, body: { key: UNKNOWN } }),
      stack.fetchJson('/v1/critical-keys', { method: 'DELETE', token: admin.token, body: { key: UNKNOWN } }),
      stack.fetchJson('/v1/override', { token: admin.token, body: { mode: 'A', object_id: UNKNOWN } }),
      stack.fetchJson(`/v1/override?object_id=${UNKNOWN}`, { method: 'DELETE', token: admin.token }),
      stack.fetchJson('/v1/hint', { token: admin.token, body: { object_id: UNKNOWN, hint: 'strong' } }),
      stack.fetchJson('/v1/hint', { token: alice.token, body: { object_id: UNKNOWN, hint: 'strong' } }),
    ];
    for (const r of await Promise.all(attempts)) {
      expect(r.status, JSON.stringify(r.body)).toBe(404);
      expect(r.body.error.code).toBe('file_not_found');
      expect(r.body.error.message).toContain(UNKNOWN);
    }
    expect((await stack.fetchJson('/v1/critical-keys', { token: admin.token })).body.count).toBe(before);
  });
});
