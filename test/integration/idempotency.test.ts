/**
 * Idempotency-Key on the write routes, through the local stack (catalog-backed records, the same
 * handler Lambda runs): a retry with the same key gets the first outcome without the work being
 * redone; the key with another request is 422; bad keys are 400 naming the header; a retry while
 * the first is running is 409 `idempotency_in_progress`; records expire and GC deletes them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { and, eq, sql } from 'drizzle-orm';
import { files, fileVersions, idempotencyKeys } from '#shared/catalog/schema.js';
import { IdempotencyStore } from '#shared/idempotency.js';
import { startTestStack, type TestStack, type TestUser } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

let stack: TestStack;
let alice: TestUser;

beforeAll(async () => {
  stack = await startTestStack({}, { schedules: false });
  alice = await stack.register();
}, 120_000);
afterAll(() => stack?.stop());

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Multipart upload (fetch draws a new boundary for every send, as real clients do on a retry). */
async function upload(token: string, name: string, data: Buffer, key?: string) {
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(data)]), name);
  const res = await fetch(`${stack.url}/api/v1/files/upload`, {
    method: 'POST',
    body: form,
    headers: { Authorization: `Bearer ${token}`, ...(key ? { 'Idempotency-Key': key } : {}) },
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, body: JSON.parse(text) as { success: boolean; data: Record<string, unknown>; error: Record<string, unknown> } };
}

async function versionsOf(ownerId: string, name: string): Promise<number> {
  const db = stack.system.services.catalog.db;
  const rows = await db.select({ v: fileVersions.version }).from(fileVersions).innerJoin(files, eq(files.id, fileVersions.fileId)).where(and(eq(files.ownerId, ownerId), eq(files.name, name)));
  return rows.length;
}

describe('Idempotency-Key', () => {
  it('a retried upload with the same key returns the first outcome and stores one version', async () => {
    const key = randomUUID();
    const data = randomBytes(3000);
    const first = await upload(alice.token, 'idem-once.bin', data, key);
    expect(first.status, first.text).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const again = await upload(alice.token, 'idem-once.bin', data, key);
    expect(again.status, again.text).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toEqual(first.body);
    expect(await versionsOf(alice.user.id, 'idem-once.bin'), 'the retry must not write a second version').toBe(1);
    // Without a key the same upload is a new version: the key is what made the retry safe.
    const unkeyed = await upload(alice.token, 'idem-once.bin', data);
    expect(unkeyed.body.data.version).toBe(2);
  });

  it('the same key with another body or on another route is 422 naming the header; another user may use it', async () => {
    const key = randomUUID();
    expect((await upload(alice.token, 'idem-a.bin', randomBytes(100), key)).status).toBe(201);
    const other = await upload(alice.token, 'idem-a.bin', randomBytes(100), key);
    expect(other.status, other.text).toBe(422);
    expect(other.body.error).toMatchObject({ code: 'idempotency_key_reused', field: 'Idempotency-Key' });
    expect(String(other.body.error.message)).toContain('Idempotency-Key');
    const body = { name: 'idem-s.bin', size: 1, sha256: sha(Buffer.from('x')), chunks: [{ hash: sha(Buffer.from('x')), size: 1 }] };
    const route = await stack.fetchJson('/api/v1/uploads', { token: alice.token, body, headers: { 'Idempotency-Key': key } });
    expect(route.status, JSON.stringify(route.body)).toBe(422);
    expect(route.body.error.message).toContain('POST /api/v1/files/upload');
    const bob = await stack.register();
    expect((await upload(bob.token, 'idem-a.bin', randomBytes(100), key)).status, 'keys are per user').toBe(201);
  });

  it('refuses malformed keys with 400 naming the header', async () => {
    for (const bad of ['has space', 'x'.repeat(256), 'é-not-ascii']) {
      const r = await stack.fetchJson(`/api/v1/files/${randomUUID()}`, { method: 'DELETE', token: alice.token, headers: { 'Idempotency-Key': bad } });
      expect(r.status, `${bad}: ${JSON.stringify(r.body)}`).toBe(400);
      expect(r.body.error.field).toBe('idempotency-key');
    }
  });

  it('session creation, commit and delete replay their first outcome (a second commit or delete would otherwise fail)', async () => {
    const data = randomBytes(2048);
    const body = { name: 'idem-session.bin', size: data.length, sha256: sha(data), chunks: [{ hash: sha(data), size: data.length }] };
    const createKey = randomUUID();
    const s1 = await stack.fetchJson('/api/v1/uploads', { token: alice.token, body, headers: { 'Idempotency-Key': createKey } });
    expect(s1.status, JSON.stringify(s1.body)).toBe(201);
    const s2 = await stack.fetchJson('/api/v1/uploads', { token: alice.token, body, headers: { 'Idempotency-Key': createKey } });
    expect(s2.status).toBe(201);
    expect(s2.body, 'the retried creation names the same session').toEqual(s1.body);
    const id = s1.body.data.upload_id;
    expect(typeof id).toBe('string');
    const put = await stack.fetchJson(`/api/v1/uploads/${id}/chunks/${sha(data)}`, { method: 'PUT', token: alice.token, body: data, headers: { 'Content-Type': 'application/octet-stream' } });
    expect(put.status, JSON.stringify(put.body)).toBe(200);

    const commitKey = randomUUID();
    const c1 = await stack.fetchJson(`/api/v1/uploads/${id}/commit`, { method: 'POST', token: alice.token, headers: { 'Idempotency-Key': commitKey } });
    expect(c1.status, JSON.stringify(c1.body)).toBe(200);
    const c2 = await stack.fetchJson(`/api/v1/uploads/${id}/commit`, { method: 'POST', token: alice.token, headers: { 'Idempotency-Key': commitKey } });
    expect(c2.status, JSON.stringify(c2.body)).toBe(200);
    expect(c2.headers.get('idempotent-replayed')).toBe('true');
    expect(c2.body).toEqual(c1.body);
    const unkeyed = await stack.fetchJson(`/api/v1/uploads/${id}/commit`, { method: 'POST', token: alice.token });
    expect(unkeyed.status, 'without the key a second commit is refused').toBe(409);

    const fileId = c1.body.data.file_id as string;
    const delKey = randomUUID();
    const d1 = await stack.fetchJson(`/api/v1/files/${fileId}`, { method: 'DELETE', token: alice.token, headers: { 'Idempotency-Key': delKey } });
    expect(d1.status).toBe(200);
    const d2 = await stack.fetchJson(`/api/v1/files/${fileId}`, { method: 'DELETE', token: alice.token, headers: { 'Idempotency-Key': delKey } });
    expect(d2.status, JSON.stringify(d2.body)).toBe(200);
    expect(d2.body).toEqual(d1.body);
    expect((await stack.fetchJson(`/api/v1/files/${fileId}`, { method: 'DELETE', token: alice.token })).status, 'without the key a second delete is 404').toBe(404);
  });

  it('a client error is an outcome too: a retried commit refused by If-Match gets the same 412', async () => {
    const up = await upload(alice.token, 'idem-412.bin', randomBytes(500));
    expect(up.status).toBe(201);
    const form = () => {
      const f = new FormData();
      f.append('file', new Blob([new Uint8Array(Buffer.from('v2'))]), 'idem-412.bin');
      return f;
    };
    const key = randomUUID();
    const send = () => fetch(`${stack.url}/api/v1/files/upload`, { method: 'POST', body: form(), headers: { Authorization: `Bearer ${alice.token}`, 'If-Match': '7', 'Idempotency-Key': key } });
    const a = await send();
    const aBody = await a.json();
    expect(a.status).toBe(412);
    const b = await send();
    expect(b.status).toBe(412);
    expect(b.headers.get('idempotent-replayed')).toBe('true');
    expect(await b.json()).toEqual(aBody);
  });

  it('a retry while the first request is still running is 409 idempotency_in_progress; after it, the retry replays', async () => {
    const db = stack.system.services.catalog.db;
    const key = randomUUID();
    const data = randomBytes(4000);
    // Slow every replica so the first upload is still running when the second arrives.
    for (const r of stack.system.config.regions) stack.system.faults.set(r, { latency_ms: 1500 });
    let first: Promise<Awaited<ReturnType<typeof upload>>>;
    try {
      first = upload(alice.token, 'idem-concurrent.bin', data, key);
      await waitFor(
        async () => (await db.select().from(idempotencyKeys).where(and(eq(idempotencyKeys.ownerId, alice.user.id), eq(idempotencyKeys.key, key)))).length === 1,
        'the first request to claim its key',
      );
      const second = await upload(alice.token, 'idem-concurrent.bin', data, key);
      expect(second.status, second.text).toBe(409);
      expect(second.body.error).toMatchObject({ code: 'idempotency_in_progress', field: 'Idempotency-Key' });
      expect(second.headers.get('retry-after')).toBe('1');
    } finally {
      for (const r of stack.system.config.regions) stack.system.faults.set(r, { latency_ms: 0 });
    }
    const done = await first;
    expect(done.status, done.text).toBe(201);
    const third = await upload(alice.token, 'idem-concurrent.bin', data, key);
    expect(third.body).toEqual(done.body);
    expect(await versionsOf(alice.user.id, 'idem-concurrent.bin')).toBe(1);
  });

  it('upload and commit answers say the mode, how many replicas held the write at the ack, and which are pending', async () => {
    const regions = stack.system.config.regions;
    const down = regions[2]!;
    stack.system.faults.set(down, { state: 'refuse' });
    let up;
    try {
      up = await upload(alice.token, 'ack.bin', randomBytes(3000));
    } finally {
      stack.system.faults.set(down, { state: 'up' });
    }
    expect(up.status, up.text).toBe(201);
    expect(up.body.data.ack).toEqual({ mode: up.body.data.mode, replicas_acked: 2, acked: regions.slice(0, 2), pending: [down], degraded: false });

    const data = randomBytes(1500);
    const body = { name: 'ack-session.bin', size: data.length, sha256: sha(data), chunks: [{ hash: sha(data), size: data.length }] };
    const s = await stack.fetchJson('/api/v1/uploads', { token: alice.token, body });
    const id = s.body.data.upload_id as string;
    const put = await stack.fetchJson(`/api/v1/uploads/${id}/chunks/${sha(data)}`, { method: 'PUT', token: alice.token, body: data, headers: { 'Content-Type': 'application/octet-stream' } });
    expect(put.status).toBe(200);
    const c = await stack.fetchJson(`/api/v1/uploads/${id}/commit`, { method: 'POST', token: alice.token });
    expect(c.status, JSON.stringify(c.body)).toBe(200);
    const ack = c.body.data.ack as { mode: string; replicas_acked: number; acked: string[]; pending: string[]; degraded: boolean };
    expect(ack.mode).toBe(c.body.data.mode);
    expect(ack.replicas_acked).toBe(ack.acked.length);
    expect(ack.replicas_acked, 'a strong commit needs a majority').toBeGreaterThanOrEqual(2);
    expect([...ack.acked, ...ack.pending].sort()).toEqual([...regions].sort());
    expect(ack.degraded).toBe(false);
  });

  it('records expire after their time to live and garbage collection deletes them', async () => {
    const db = stack.system.services.catalog.db;
    const key = randomUUID();
    const data = randomBytes(700);
    expect((await upload(alice.token, 'idem-expire.bin', data, key)).status).toBe(201);
    const [row] = await db.select().from(idempotencyKeys).where(and(eq(idempotencyKeys.ownerId, alice.user.id), eq(idempotencyKeys.key, key)));
    expect(row?.state).toBe('done');
    const ttlHours = (row!.expiresAt.getTime() - row!.createdAt.getTime()) / 3_600_000;
    expect(ttlHours).toBeCloseTo(24, 3);
    // Past its expiry the key is free again, even before GC ran: it does the work anew.
    await db.update(idempotencyKeys).set({ expiresAt: new Date(Date.now() - 1000) }).where(and(eq(idempotencyKeys.ownerId, alice.user.id), eq(idempotencyKeys.key, key)));
    const fresh = await upload(alice.token, 'idem-expire.bin', data, key);
    expect(fresh.headers.get('idempotent-replayed')).toBeNull();
    expect(fresh.body.data.version).toBe(2);
    await db.update(idempotencyKeys).set({ expiresAt: new Date(Date.now() - 1000) }).where(and(eq(idempotencyKeys.ownerId, alice.user.id), eq(idempotencyKeys.key, key)));
    await stack.system.tasks.gc!.runNow();
    const left = await db.execute(sql`SELECT count(*)::int AS n FROM idempotency_keys WHERE expires_at <= now()`);
    expect((left as unknown as { rows: { n: number }[] }).rows[0]?.n).toBe(0);
    // The store's own purge, with a clock a day ahead, takes the rest.
    expect(await new IdempotencyStore(db, { now: () => Date.now() + 25 * 3_600_000 }).purgeExpired()).toBeGreaterThan(0);
  });
});
