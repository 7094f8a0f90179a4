/**
 * The files API over HTTP on the local stack (s3rvers behind fault proxies, PGlite, the adapter).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import { runnerFor } from '#shared/storage/replication-runner.js';
import { startTestStack, type TestStack, type TestUser } from '../helpers/stack.js';
import { chunkPlacements, files } from '#shared/catalog/schema.js';
import { CHUNK_SIZE, decodeChunk, describeBuffer } from '#shared/storage/codec.js';
import { chunkKey } from '#shared/storage/ports.js';
import { createReplicaStores } from '#shared/storage/s3-store.js';

let stack: TestStack;
let alice: TestUser;

beforeAll(async () => {
  // Started again on its data dir by the restart test below.
  stack = await startTestStack({}, { schedules: false, catalog: 'disk' });
  alice = await stack.register();
});
afterAll(async () => {
  await stack?.stop();
});

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Multipart upload; `exactName` sends the name in a `name` field (multipart filenames lose '/' and '"'). */
async function upload(token: string, name: string, data: Buffer, headers: Record<string, string> = {}, exactName = false) {
  const form = new FormData();
  if (exactName) form.append('name', name);
  form.append('file', new Blob([new Uint8Array(data)]), exactName ? 'ignored.bin' : name);
  const res = await fetch(`${stack.url}/api/v1/files/upload`, { method: 'POST', body: form, headers: { Authorization: `Bearer ${token}`, ...headers } });
  return { status: res.status, headers: res.headers, body: (await res.json()) as { success: boolean; data: Record<string, unknown>; error?: { code: string; message: string } } };
}

async function download(token: string, id: string, headers: Record<string, string> = {}, query = '') {
  const res = await fetch(`${stack.url}/api/v1/files/${id}/download${query}`, { headers: { Authorization: `Bearer ${token}`, ...headers } });
  return { status: res.status, headers: res.headers, bytes: Buffer.from(await res.arrayBuffer()) };
}

/** Upload through a chunk session: declare, send every missing chunk, commit. */
async function sessionUpload(token: string, name: string, data: Buffer, opts: { skip?: (i: number) => boolean; ifMatch?: string } = {}) {
  const d = describeBuffer(data);
  const created = await stack.fetchJson('/api/v1/uploads', { token, body: { name, size: data.length, sha256: d.sha256, chunks: d.chunks } });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const id = created.body.data.upload_id as string;
  const missing = new Set<string>(created.body.data.missing);
  for (let i = 0; i < d.chunks.length; i++) {
    const c = d.chunks[i]!;
    if (!missing.has(c.hash) || opts.skip?.(i)) continue;
    missing.delete(c.hash);
    const r = await stack.fetchJson(`/api/v1/uploads/${id}/chunks/${c.hash}`, { method: 'PUT', token, body: new Uint8Array(data.subarray(i * CHUNK_SIZE, i * CHUNK_SIZE + c.size)), headers: { 'Content-Type': 'application/octet-stream' } });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
  }
  return { id, created, d };
}

async function commit(token: string, id: string, headers: Record<string, string> = {}) {
  return stack.fetchJson(`/api/v1/uploads/${id}/commit`, { method: 'POST', token, headers });
}

describe('files API: round trips', () => {
  it.each([0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1])('uploads %i random bytes (multipart) and downloads them byte-exactly with proper headers', async (n) => {
    const data = randomBytes(n);
    const up = await upload(alice.token, `rt-${n}.bin`, data);
    expect(up.status, JSON.stringify(up.body)).toBe(201);
    expect(up.body.success).toBe(true);
    expect(up.body.data).toMatchObject({ name: `rt-${n}.bin`, file_size: n, chunks: Math.ceil(n / CHUNK_SIZE), version: 1, compressed: false });
    expect(up.headers.get('x-echofs-mode')).toBe('C');
    const down = await download(alice.token, up.body.data.file_id as string);
    expect(down.status).toBe(200);
    expect(down.bytes.length).toBe(n);
    expect(down.bytes.equals(data)).toBe(true);
    expect(down.headers.get('content-length')).toBe(String(n));
    expect(down.headers.get('etag')).toBe(`"${sha(data)}.1"`);
    expect(down.headers.get('content-disposition')).toContain(`filename*=UTF-8''rt-${n}.bin`);
    expect(down.headers.get('x-echofs-mode')).toBe('C');
    const again = await download(alice.token, up.body.data.file_id as string, { 'If-None-Match': down.headers.get('etag')! });
    expect(again.status).toBe(304);
  });

  it('round-trips 25 MiB of random data through a chunk session', async () => {
    const data = randomBytes(25 * CHUNK_SIZE);
    const { id } = await sessionUpload(alice.token, 'big-25.bin', data);
    const c = await commit(alice.token, id);
    expect(c.status, JSON.stringify(c.body)).toBe(200);
    expect(c.body.data).toMatchObject({ file_size: data.length, chunks: 25, sha256: sha(data) });
    const down = await download(alice.token, c.body.data.file_id);
    expect(down.bytes.length).toBe(data.length);
    expect(down.bytes.equals(data)).toBe(true);
  });

  it('serves ranges (206 with Content-Range) and answers 416 past the end', async () => {
    const data = randomBytes(CHUNK_SIZE + 500);
    const up = await upload(alice.token, 'ranges.bin', data);
    const id = up.body.data.file_id as string;
    const r = await download(alice.token, id, { Range: `bytes=${CHUNK_SIZE - 5}-${CHUNK_SIZE + 4}` });
    expect(r.status).toBe(206);
    expect(r.headers.get('content-range')).toBe(`bytes ${CHUNK_SIZE - 5}-${CHUNK_SIZE + 4}/${data.length}`);
    expect(r.bytes.equals(data.subarray(CHUNK_SIZE - 5, CHUNK_SIZE + 5))).toBe(true);
    const tail = await download(alice.token, id, { Range: 'bytes=-100' });
    expect(tail.bytes.equals(data.subarray(data.length - 100))).toBe(true);
    const bad = await download(alice.token, id, { Range: `bytes=${data.length}-` });
    expect(bad.status).toBe(416);
    expect(bad.headers.get('content-range')).toBe(`bytes */${data.length}`);
  });

  it('gives a safe Content-Disposition for a Unicode name with quotes', async () => {
    const name = 'rapport "final" – été.txt';
    const up = await upload(alice.token, name, Buffer.from('x'), {}, true);
    expect(up.status).toBe(201);
    expect(up.body.data.name).toBe(name);
    const down = await download(alice.token, up.body.data.file_id as string);
    const cd = down.headers.get('content-disposition') ?? '';
    expect(cd).toMatch(/^attachment; filename="rapport _final_ _ _t_.txt"; filename\*=UTF-8''/);
    expect(decodeURIComponent(cd.split("UTF-8''")[1] ?? '')).toBe(name);
  });
});

describe('files API: versions, listing, ownership', () => {
  it('makes a new version for a known name, serves ?version=, and answers If-Match mismatches with 412', async () => {
    const v1 = await upload(alice.token, 'notes.txt', Buffer.from('first'));
    const id = v1.body.data.file_id as string;
    const v2 = await upload(alice.token, 'notes.txt', Buffer.from('second'), { 'If-Match': '1' });
    expect(v2.status).toBe(201);
    expect(v2.body.data).toMatchObject({ file_id: id, version: 2 });
    const stale = await upload(alice.token, 'notes.txt', Buffer.from('stale'), { 'If-Match': '1' });
    expect(stale.status).toBe(412);
    expect(stale.body.error?.code).toBe('version_mismatch');
    const { id: sid } = await sessionUpload(alice.token, 'notes.txt', Buffer.from('third'));
    expect((await commit(alice.token, sid, { 'If-Match': '1' })).status).toBe(412);
    expect((await commit(alice.token, sid, { 'If-Match': '2' })).status).toBe(200);
    expect((await download(alice.token, id, {}, '?version=1')).bytes.toString()).toBe('first');
    expect((await download(alice.token, id)).bytes.toString()).toBe('third');
    const versions = await stack.fetchJson(`/api/v1/files/${id}/versions`, { token: alice.token });
    expect(versions.body.data.versions.map((v: { version: number }) => v.version)).toEqual([3, 2, 1]);
  });

  it('lists the caller’s files with a replica summary and shows where chunks live', async () => {
    const bob = await stack.register();
    const up = await upload(bob.token, 'list.bin', randomBytes(10));
    // A strong write is acknowledged by a majority; the third copy may still be landing.
    await stack.system.services.storage.drain();
    const list = await stack.fetchJson('/api/v1/files', { token: bob.token });
    expect(list.status).toBe(200);
    expect(list.body.data).toHaveLength(1);
    const item = list.body.data[0];
    expect(item).toMatchObject({ file_id: up.body.data.file_id, name: 'list.bin', size: 10, chunks: 1, version: 1 });
    expect(typeof item.uploaded).toBe('string');
    expect(item.replicas.complete).toHaveLength(3);
    const detail = await stack.fetchJson(`/api/v1/files/${up.body.data.file_id}`, { token: bob.token });
    expect(Object.values(detail.body.data.placements[0].regions)).toEqual(['present', 'present', 'present']);
    const manifest = await stack.fetchJson(`/api/v1/files/${up.body.data.file_id}/manifest`, { token: bob.token });
    expect(manifest.status).toBe(200);
    const chunk = manifest.body.data.chunks[0];
    const raw = Buffer.from(await (await fetch(chunk.url)).arrayBuffer());
    expect(raw.length).toBe(11); // 1-byte header + 10 raw bytes
  });

  it("isolates users: another user's file, manifest, versions and session are 404", async () => {
    const eve = await stack.register();
    const up = await upload(alice.token, 'private.txt', Buffer.from('alice'));
    const id = up.body.data.file_id as string;
    for (const path of [`/api/v1/files/${id}`, `/api/v1/files/${id}/download`, `/api/v1/files/${id}/manifest`, `/api/v1/files/${id}/versions`]) {
      expect((await stack.fetchJson(path, { token: eve.token })).status, path).toBe(404);
    }
    expect((await stack.fetchJson(`/api/v1/files/${id}`, { method: 'DELETE', token: eve.token })).status).toBe(404);
    const { id: sid } = await sessionUpload(alice.token, 'sess.txt', Buffer.from('s'), { skip: () => true });
    expect((await stack.fetchJson(`/api/v1/uploads/${sid}`, { token: eve.token })).status).toBe(404);
    expect((await stack.fetchJson(`/api/v1/files`, { token: eve.token })).body.data).toEqual([]);
  });

  it('soft-deletes and restores a file; restore is 409 while another live file has the name', async () => {
    const up = await upload(alice.token, 'trash.txt', Buffer.from('1'));
    const id = up.body.data.file_id as string;
    expect((await stack.fetchJson(`/api/v1/files/${id}`, { method: 'DELETE', token: alice.token })).status).toBe(200);
    expect((await download(alice.token, id)).status).toBe(404);
    await upload(alice.token, 'trash.txt', Buffer.from('2'));
    expect((await stack.fetchJson(`/api/v1/files/${id}/restore`, { method: 'POST', token: alice.token })).status).toBe(409);
  });

  it('rejects bad names with 400 and says what to fix', async () => {
    const r = await upload(alice.token, 'a/b.txt', Buffer.from('x'), {}, true);
    expect(r.status).toBe(400);
    expect(r.body.error?.message).toMatch(/'\/'/);
  });

  it('reports health of the catalog and each replica', async () => {
    const h = await stack.fetchJson('/api/v1/health');
    expect(h.status).toBe(200);
    expect(h.body.catalog.ok).toBe(true);
    expect(Object.values(h.body.replicas).every((r) => (r as { ok: boolean }).ok)).toBe(true);
  });
});

describe('files API: chunk sessions', () => {
  it('dedupes: re-uploading the same content needs no chunk and stores nothing new', async () => {
    const data = randomBytes(2 * CHUNK_SIZE + 1);
    const first = await sessionUpload(alice.token, 'dedupe-a.bin', data);
    expect((await commit(alice.token, first.id)).status).toBe(200);
    const d = describeBuffer(data);
    const again = await stack.fetchJson('/api/v1/uploads', { token: alice.token, body: { name: 'dedupe-b.bin', size: data.length, sha256: d.sha256, chunks: d.chunks } });
    expect(again.body.data.missing).toEqual([]);
    const c = await commit(alice.token, again.body.data.upload_id);
    expect(c.status).toBe(200);
    expect((await download(alice.token, c.body.data.file_id)).bytes.equals(data)).toBe(true);
  });

  it('resumes: a session that lost half its chunks finishes by sending only the rest', async () => {
    const data = randomBytes(4 * CHUNK_SIZE);
    const { id, d } = await sessionUpload(alice.token, 'resume.bin', data, { skip: (i) => i >= 2 });
    const early = await commit(alice.token, id);
    expect(early.status).toBe(400);
    expect(early.body.error.missing).toEqual(d.chunks.slice(2).map((c) => c.hash));
    const state = await stack.fetchJson(`/api/v1/uploads/${id}`, { token: alice.token });
    expect(state.body.data.missing).toEqual(d.chunks.slice(2).map((c) => c.hash));
    for (const i of [2, 3]) {
      const r = await stack.fetchJson(`/api/v1/uploads/${id}/chunks/${d.chunks[i]!.hash}`, { method: 'PUT', token: alice.token, body: new Uint8Array(data.subarray(i * CHUNK_SIZE, (i + 1) * CHUNK_SIZE)) });
      expect(r.status).toBe(200);
    }
    const c = await commit(alice.token, id);
    expect(c.status).toBe(200);
    expect((await download(alice.token, c.body.data.file_id)).bytes.equals(data)).toBe(true);
  });

  it('rejects a chunk whose bytes do not match its hash with 400 and stores nothing', async () => {
    const data = randomBytes(100);
    const { id, d } = await sessionUpload(alice.token, 'mismatch.bin', data, { skip: () => true });
    const r = await stack.fetchJson(`/api/v1/uploads/${id}/chunks/${d.chunks[0]!.hash}`, { method: 'PUT', token: alice.token, body: new Uint8Array(randomBytes(100)) });
    expect(r.status).toBe(400);
    expect((await stack.fetchJson(`/api/v1/uploads/${id}`, { token: alice.token })).body.data.missing).toEqual([d.chunks[0]!.hash]);
  });
});

describe('files API: replicas failing', () => {
  it('strong write with one replica refusing succeeds, leaves it pending, and the backlog later fills it', async () => {
    const region = stack.system.config.regions[2]!;
    stack.system.faults.set(region, { state: 'refuse' });
    const data = randomBytes(1000);
    let up;
    try {
      up = await upload(alice.token, 'one-down.bin', data);
    } finally {
      stack.system.faults.set(region, { state: 'up' });
    }
    expect(up.status, JSON.stringify(up.body)).toBe(201);
    const db = stack.system.services.catalog.db;
    const rows = await db.select().from(chunkPlacements).where(and(eq(chunkPlacements.ownerId, alice.user.id), eq(chunkPlacements.hash, sha(data))));
    expect(Object.fromEntries(rows.map((r) => [r.region, r.state]))[region]).toBe('pending');
    const replicator = stack.system.tasks.drain ?? stack.system.tasks.replicator;
    expect(replicator, 'the local stack schedules the replicator').toBeDefined();
    await replicator!.runNow();
    const after = await db.select().from(chunkPlacements).where(and(eq(chunkPlacements.ownerId, alice.user.id), eq(chunkPlacements.hash, sha(data))));
    expect(Object.fromEntries(after.map((r) => [r.region, r.state]))).toEqual(Object.fromEntries(stack.system.config.regions.map((r) => [r, 'present'])));
  });

  it('with two of three replicas refusing, a strong write is 503 with Retry-After and commits nothing; an available write succeeds', async () => {
    const [, r1, r2] = stack.system.config.regions;
    const admin = await stack.registerAdmin();
    const data = randomBytes(1000);
    stack.system.faults.set(r1!, { state: 'refuse' });
    stack.system.faults.set(r2!, { state: 'refuse' });
    let strong;
    let available;
    try {
      strong = await upload(alice.token, 'two-down.bin', data);
      const o = await stack.fetchJson('/v1/override', { token: admin.token, body: { mode: 'available' } });
      expect(o.status, JSON.stringify(o.body)).toBe(200);
      available = await upload(alice.token, 'two-down-a.bin', data);
    } finally {
      stack.system.faults.set(r1!, { state: 'up' });
      stack.system.faults.set(r2!, { state: 'up' });
      await stack.fetchJson('/v1/override', { method: 'DELETE', token: admin.token });
    }
    expect(strong.status).toBe(503);
    expect(strong.headers.get('retry-after')).toBeTruthy();
    expect(strong.headers.get('x-echofs-mode')).toBe('C');
    const db = stack.system.services.catalog.db;
    expect(await db.select().from(files).where(and(eq(files.ownerId, alice.user.id), eq(files.name, 'two-down.bin')))).toHaveLength(0);
    expect(available.status, JSON.stringify(available.body)).toBe(201);
    expect(available.body.data.mode).toBe('A');
    expect(available.headers.get('x-echofs-mode')).toBe('A');
    expect((await download(alice.token, available.body.data.file_id as string)).bytes.equals(data)).toBe(true);
  });

  it('serves a corrupted or deleted copy from another replica, queues it for repair, and the replicator repairs it', async () => {
    const db = stack.system.services.catalog.db;
    const storage = stack.system.services.storage;
    const direct = createReplicaStores({
      regions: stack.system.config.regions,
      buckets: stack.system.config.buckets,
      s3Endpoints: Object.fromEntries(Object.entries(stack.system.replicas).map(([r, e]) => [r, e.endpoint])),
      replicaTimeoutMs: 3000,
    });
    const placementStates = async (hash: string) =>
      Object.fromEntries(
        (await db.select().from(chunkPlacements).where(and(eq(chunkPlacements.ownerId, alice.user.id), eq(chunkPlacements.hash, hash)))).map((r) => [r.region, r.state]),
      );
    const damaged: { key: string; hash: string; data: Buffer }[] = [];
    // Hold back the replicator's automatic kick so the queued repair can be observed before the
    // drain below performs it.
    const trigger = stack.system.services.replication;
    stack.system.services.replication = undefined;
    // ...and let any drain still running from earlier tests finish first.
    await runnerFor(stack.system.services).idle();
    for (const damage of ['corrupt', 'delete'] as const) {
      const data = randomBytes(5000);
      const hash = sha(data);
      const up = await upload(alice.token, `rot-${damage}.bin`, data);
      expect(up.status).toBe(201);
      const key = chunkKey(alice.user.id, hash);
      // Let the write's straggling third copy land first, so the damage below is not overwritten.
      await storage.drain();
      // Damage one copy, and make the two intact replicas answer slowly (2 s) for the read: the
      // read then asks every holder (a hedge goes out at most 500 ms after the previous request)
      // and the damaged copy answers first, whatever order the health ranking gives.
      const first = storage.health.ranked(stack.system.config.regions)[0]!;
      const store = direct.get(first)!;
      const intact = stack.system.config.regions.filter((r) => r !== first);
      if (damage === 'corrupt') {
        const stored = (await store.get(key))!;
        stored[stored.length - 1] = (stored[stored.length - 1] ?? 0) ^ 0xff;
        await store.put(key, stored);
      } else {
        await store.delete(key);
      }
      for (const r of intact) stack.system.faults.set(r, { latency_ms: 2000 });
      const down = await download(alice.token, up.body.data.file_id as string).finally(() => {
        for (const r of intact) stack.system.faults.set(r, { latency_ms: 0 });
      });
      expect(down.status).toBe(200);
      expect(down.bytes.equals(data), `${damage}d copy in ${first} was not skipped`).toBe(true);
      // A hedged read may have been answered by another holder first; the request to the damaged
      // copy still completes in the background and queues it for repair.
      await storage.drain();
      const states = await placementStates(hash);
      expect(states[first], `${damage}d copy in ${first}: ${JSON.stringify(states)}`).toBe('missing');
      expect(Object.values(states).filter((x) => x === 'present')).toHaveLength(2);
      damaged.push({ key, hash, data });
    }
    stack.system.services.replication = trigger;
    await stack.system.tasks.drain!.runNow();
    for (const { key, hash, data } of damaged) {
      expect(Object.values(await placementStates(hash))).toEqual(['present', 'present', 'present']);
      for (const region of stack.system.config.regions) {
        expect((await decodeChunk((await direct.get(region)!.get(key))!, hash)).equals(data), `repaired copy in ${region}`).toBe(true);
      }
    }
  });
});

describe('files API: restart', () => {
  it('loses nothing acknowledged when the server restarts in the middle of a session', async () => {
    const data = randomBytes(3 * CHUNK_SIZE + 17);
    const { id, d } = await sessionUpload(alice.token, 'restart.bin', data, { skip: (i) => i >= 2 });
    const dataDir = stack.dataDir;
    await stack.stop({ keepData: true });
    stack = await startTestStack({}, { schedules: false, dataDir });
    const login = await stack.fetchJson('/api/v1/auth/login', { body: { email: alice.email, password: alice.password } });
    expect(login.status).toBe(200);
    alice = { ...alice, token: login.body.token };
    const state = await stack.fetchJson(`/api/v1/uploads/${id}`, { token: alice.token });
    expect(state.status).toBe(200);
    expect(state.body.data.missing).toEqual(d.chunks.slice(2).map((c) => c.hash));
    for (const i of [2, 3]) {
      const c = d.chunks[i]!;
      const r = await stack.fetchJson(`/api/v1/uploads/${id}/chunks/${c.hash}`, { method: 'PUT', token: alice.token, body: new Uint8Array(data.subarray(i * CHUNK_SIZE, i * CHUNK_SIZE + c.size)) });
      expect(r.status).toBe(200);
    }
    const c = await commit(alice.token, id);
    expect(c.status, JSON.stringify(c.body)).toBe(200);
    expect((await download(alice.token, c.body.data.file_id)).bytes.equals(data)).toBe(true);
  });
});
