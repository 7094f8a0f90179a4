/**
 * The storage engine over the real catalog schema (PGlite in memory) and in-memory replicas.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { randomBytes, randomUUID } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import { openCatalog, type Catalog } from '#shared/catalog/db.js';
import { openSeededCatalog } from '../helpers/catalog-template.js';
import { chunkPlacements, chunks, files, uploadSessions, users } from '#shared/catalog/schema.js';
import { StorageEngine, resolveRange, type StorageEngineDeps } from '#shared/storage/engine.js';
import { MemoryObjectStore } from '#shared/storage/memory-store.js';
import { READ_AHEAD } from '#shared/storage/downloads.js';
import { HealthTracker } from '#shared/controller/health.js';
import { CHUNK_SIZE, describeBuffer, sha256Hex } from '#shared/storage/codec.js';
import { chunkKey, fixedMode } from '#shared/storage/ports.js';
import { HttpError } from '#shared/errors.js';
import type { Mode } from '#shared/config.js';
import { controllerMetrics, setControllerMetrics } from '#shared/controller/metrics.js';
import { waitFor } from '../helpers/wait.js';
import { scaled } from '../helpers/load.js';

const REGIONS = ['us-east-1', 'eu-west-1', 'ap-southeast-1'];
let catalog: Catalog;

beforeAll(async () => {
  // ECHOFS_TEST_DATABASE_URL runs the same tests on a real PostgreSQL server.
  catalog = process.env.ECHOFS_TEST_DATABASE_URL
    ? await openCatalog({ databaseUrl: process.env.ECHOFS_TEST_DATABASE_URL, migrate: true })
    : await openSeededCatalog();
});
afterAll(async () => {
  await catalog?.close();
});

async function newUser(): Promise<string> {
  const id = randomUUID();
  await catalog.db.insert(users).values({ id, username: `u${id.slice(0, 8)}`, email: `${id}@example.com`, passwordHash: 'x' });
  return id;
}

interface Rig {
  engine: StorageEngine;
  stores: Map<string, MemoryObjectStore>;
  kicks: number;
  now: Date;
  mode: Mode;
  health: HealthTracker;
}

function rig(mode: Mode = 'C', extra: Partial<StorageEngineDeps> = {}, cfg: Partial<StorageEngineDeps['config']> = {}): Rig {
  const stores = new Map(REGIONS.map((r) => [r, new MemoryObjectStore(r)]));
  const r: Rig = { engine: undefined as unknown as StorageEngine, stores, kicks: 0, now: new Date(), mode, health: new HealthTracker() };
  r.engine = new StorageEngine({
    modeSource: { modeFor: async () => ({ mode: r.mode, reason: 'test' }) },
    health: r.health,
    db: catalog.db,
    stores,
    config: { mode, maxFileBytes: 64 * CHUNK_SIZE, quotaBytes: 256 * CHUNK_SIZE, uploadTtlSeconds: 3600, replicaTimeoutMs: 2000, ...cfg },
    onBacklog: () => {
      r.kicks += 1;
    },
    clock: { now: () => r.now.getTime() },
    ...extra,
  });
  return r;
}

/** Chunk `i` of `data` as a session sends it (1 MiB, the last one shorter). */
function chunkOf(data: Buffer, i: number): Buffer {
  return data.subarray(i * CHUNK_SIZE, Math.min(data.length, (i + 1) * CHUNK_SIZE));
}

/** GETs the rig's replicas have answered so far (chunks read back). */
function replicaGets(r: Rig): number {
  return [...r.stores.values()].reduce((n, st) => n + st.gets, 0);
}

async function* once(b: Buffer): AsyncGenerator<Buffer> {
  if (b.length > 0) yield b;
}

async function readAll(engine: StorageEngine, owner: string, id: string, opts = {}): Promise<Buffer> {
  const r = await engine.openRead(owner, id, opts);
  const parts: Buffer[] = [];
  for await (const p of r.stream) parts.push(p as Buffer);
  return Buffer.concat(parts);
}

async function placements(owner: string, hash: string): Promise<Record<string, string>> {
  const rows = await catalog.db.select().from(chunkPlacements).where(and(eq(chunkPlacements.ownerId, owner), eq(chunkPlacements.hash, hash)));
  return Object.fromEntries(rows.map((p) => [p.region, p.state]));
}

/** Hold every PUT to `store` until the returned release is called (a copy that lands late). */
function holdPuts(store: MemoryObjectStore): () => void {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const put = store.put.bind(store);
  store.put = async (key, body, signal) => {
    await gate;
    return put(key, body, signal);
  };
  return release;
}

async function status(p: Promise<unknown>): Promise<number> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof HttpError)) throw new Error(`expected an HttpError, got ${String(err)}`);
  return err.status;
}

describe('storage engine: round trips', () => {
  it.each([0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE + 5])('stores and reads back %i random bytes byte-exactly', async (n) => {
    const { engine } = rig();
    const owner = await newUser();
    const data = randomBytes(n);
    const f = await engine.uploadStream(owner, { name: `r${n}.bin` }, once(data));
    expect(f.size).toBe(n);
    expect(f.chunks).toBe(Math.ceil(n / CHUNK_SIZE));
    expect(f.sha256).toBe(sha256Hex(data));
    expect((await readAll(engine, owner, f.fileId)).equals(data)).toBe(true);
  });

  it('streams a download chunk by chunk: reading the first of 12 chunks fetches only the read-ahead window, not the whole file', async () => {
    const r = rig();
    const owner = await newUser();
    const data = randomBytes(12 * CHUNK_SIZE);
    const f = await r.engine.uploadStream(owner, { name: 'lazy.bin' }, once(data));
    const gets = () => replicaGets(r);
    const before = gets();
    const opened = await r.engine.openRead(owner, f.fileId);
    const it = opened.stream[Symbol.asyncIterator]();
    const first = await it.next();
    expect((first.value as Buffer).equals(data.subarray(0, CHUNK_SIZE))).toBe(true);
    await new Promise((res) => setTimeout(res, 50));
    // The chunk sent, READ_AHEAD in flight behind it, and what the stream's own buffer pulled.
    expect(gets() - before).toBeLessThanOrEqual(2 * READ_AHEAD + 2);
    expect(gets() - before).toBeLessThan(12);
    opened.stream.destroy();
  });

  it('compresses compressible chunks and still reads them back exactly', async () => {
    const { engine } = rig();
    const owner = await newUser();
    const data = Buffer.from('log line 42: all replicas healthy\n'.repeat(70000));
    const f = await engine.uploadStream(owner, { name: 'app.log' }, once(data));
    expect(f.compressed).toBe(true);
    expect((await readAll(engine, owner, f.fileId)).equals(data)).toBe(true);
  });

  it('serves byte ranges across chunk boundaries', async () => {
    const { engine } = rig();
    const owner = await newUser();
    const data = randomBytes(2 * CHUNK_SIZE + 100);
    const f = await engine.uploadStream(owner, { name: 'range.bin' }, once(data));
    for (const [s, e] of [[0, 0], [CHUNK_SIZE - 10, CHUNK_SIZE + 10], [5, 2 * CHUNK_SIZE + 99], [2 * CHUNK_SIZE, 2 * CHUNK_SIZE + 99]] as const) {
      const got = await readAll(engine, owner, f.fileId, { range: { start: s, end: e } });
      expect(got.equals(data.subarray(s, e + 1))).toBe(true);
    }
    expect(resolveRange('bytes=-10', 100)).toEqual({ start: 90, end: 99 });
    expect(resolveRange('bytes=90-', 100)).toEqual({ start: 90, end: 99 });
    expect(resolveRange('bytes=90-500', 100)).toEqual({ start: 90, end: 99 });
    expect(() => resolveRange('bytes=100-', 100)).toThrow(/not satisfiable/);
    expect(resolveRange('items=1-2', 100)).toBeUndefined();
  });
});

describe('storage engine: replication by mode', () => {
  it('dedupes: re-uploading the same content writes no new chunk and makes version 2', async () => {
    const { engine, stores } = rig();
    const owner = await newUser();
    const data = randomBytes(CHUNK_SIZE + 7);
    await engine.uploadStream(owner, { name: 'd.bin' }, once(data));
    const puts = [...stores.values()].reduce((n, s) => n + s.puts, 0);
    const f2 = await engine.uploadStream(owner, { name: 'd.bin' }, once(data));
    expect([...stores.values()].reduce((n, s) => n + s.puts, 0)).toBe(puts);
    expect(f2.version).toBe(2);
    expect((await engine.listVersions(owner, f2.fileId)).map((v) => v.version)).toEqual([2, 1]);
  });

  it('reports the acknowledged write latency under the mode the write was acknowledged in', async () => {
    const seen: { mode: Mode; ms: number }[] = [];
    const previous = controllerMetrics();
    setControllerMetrics({ ...previous, writeLatency: (mode, ms) => void seen.push({ mode, ms }) });
    try {
      const owner = await newUser();
      await rig('A').engine.uploadStream(owner, { name: 'lat.bin' }, once(randomBytes(2000)));
    } finally {
      setControllerMetrics(previous);
    }
    expect(seen).toHaveLength(1);
    expect(seen[0]!.mode).toBe('A');
    expect(seen[0]!.ms).toBeGreaterThanOrEqual(0);
  });

  it('strong write with one replica refusing succeeds and leaves that replica pending (backlog)', async () => {
    const r = rig('C');
    r.stores.get('ap-southeast-1')!.state = 'refuse';
    const owner = await newUser();
    const data = randomBytes(1000);
    const f = await r.engine.uploadStream(owner, { name: 's.bin' }, once(data));
    expect(f.mode).toBe('C');
    expect(await placements(owner, sha256Hex(data))).toEqual({ 'us-east-1': 'present', 'eu-west-1': 'present', 'ap-southeast-1': 'pending' });
    expect(r.kicks).toBeGreaterThan(0);
  });

  it('strong write with two of three replicas refusing is 503 with nothing committed; an available write succeeds', async () => {
    const r = rig('C');
    r.stores.get('eu-west-1')!.state = 'refuse';
    r.stores.get('ap-southeast-1')!.state = 'refuse';
    const owner = await newUser();
    const data = randomBytes(5000);
    const err = await r.engine.uploadStream(owner, { name: 'strong.bin' }, once(data)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpError);
    expect((err as HttpError).status).toBe(503);
    expect((err as HttpError).headers['Retry-After']).toBeDefined();
    expect(await catalog.db.select().from(files).where(eq(files.ownerId, owner))).toHaveLength(0);

    r.mode = 'A';
    const f = await r.engine.uploadStream(owner, { name: 'avail.bin' }, once(data));
    expect(f.mode).toBe('A');
    expect((await readAll(r.engine, owner, f.fileId)).equals(data)).toBe(true);
    const p = await placements(owner, sha256Hex(data));
    expect(p['us-east-1']).toBe('present');
    expect(p['eu-west-1']).toBe('pending');
  });

  it('a strong write that loses its quorum is acknowledged under available when the controller switched meanwhile', async () => {
    const decisions: Mode[] = ['C', 'A'];
    const r = rig('C', { modeSource: { modeFor: async () => ({ mode: decisions.length > 1 ? decisions.shift()! : decisions[0]!, reason: 'test' }) } });
    r.stores.get('eu-west-1')!.state = 'refuse';
    r.stores.get('ap-southeast-1')!.state = 'refuse';
    const owner = await newUser();
    const data = randomBytes(5000);
    const f = await r.engine.uploadStream(owner, { name: 'switched.bin' }, once(data));
    // Recorded under the mode it was acknowledged in, with the one copy it has and the rest queued.
    expect(f.mode).toBe('A');
    expect(await placements(owner, sha256Hex(data))).toEqual({ 'us-east-1': 'present', 'eu-west-1': 'pending', 'ap-southeast-1': 'pending' });
    expect((await readAll(r.engine, owner, f.fileId)).equals(data)).toBe(true);
  });

  it('a strong write waiting on black-holed replicas is acknowledged under available as soon as the controller switches, not when their calls time out', async () => {
    /** A replica that holds every PUT until heal(), as a black hole holds a call until its timeout. */
    class BlackHole extends MemoryObjectStore {
      private release!: () => void;
      private readonly healed = new Promise<void>((r) => (this.release = r));
      override async put(key: string, body: Buffer, signal?: AbortSignal): Promise<void> {
        await this.healed;
        return super.put(key, body, signal);
      }
      heal(): void {
        this.release();
      }
    }
    const r = rig('C');
    const holes = ['eu-west-1', 'ap-southeast-1'].map((region) => new BlackHole(region));
    for (const h of holes) r.stores.set(h.region, h);
    const owner = await newUser();
    const data = randomBytes(4000);
    const upload = r.engine.uploadStream(owner, { name: 'during-the-switch.bin' }, once(data));
    await waitFor(() => r.stores.get('us-east-1')!.puts === 1, 'the one reachable replica to take its copy');
    // The controller judges the majority gone and moves to available (the emergency rule).
    r.mode = 'A';
    const guard = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the write kept waiting for the black-holed replicas after the switch')), scaled(20_000)).unref());
    const f = await Promise.race([upload, guard]);
    expect(f.mode).toBe('A');
    expect(await placements(owner, sha256Hex(data))).toEqual({ 'us-east-1': 'present', 'eu-west-1': 'pending', 'ap-southeast-1': 'pending' });
    // Healed: the writes held in the black hole land and are marked present.
    for (const h of holes) h.heal();
    await waitFor(async () => Object.values(await placements(owner, sha256Hex(data))).every((st) => st === 'present'), 'the held copies to land and be marked present');
  });

  it('a strong write that loses its quorum still fails when the object stays strong (critical key, override)', async () => {
    let asked = 0;
    const r = rig('C', { modeSource: { modeFor: async () => (asked++, { mode: 'C', reason: 'critical key' }) } });
    r.stores.get('eu-west-1')!.state = 'refuse';
    r.stores.get('ap-southeast-1')!.state = 'refuse';
    const owner = await newUser();
    const err = await r.engine.uploadStream(owner, { name: 'ledger.db' }, once(randomBytes(3000))).catch((e: unknown) => e);
    expect((err as HttpError).status).toBe(503);
    expect(asked).toBeGreaterThanOrEqual(2);
    expect(await catalog.db.select().from(files).where(eq(files.ownerId, owner))).toHaveLength(0);
  });

  it('hybrid accepts one ack after its deadline when the others are slow, and the stragglers land later', async () => {
    const r = rig('H', { hybridDeadline: { minMs: 20, maxMs: 20 } });
    r.stores.get('eu-west-1')!.latencyMs = 400;
    r.stores.get('ap-southeast-1')!.latencyMs = 400;
    const owner = await newUser();
    const data = randomBytes(100);
    const hash = sha256Hex(data);
    const res = await r.engine.writeChunk(owner, hash, data, { mode: 'H', reason: 'test' });
    expect(res.degraded).toBe(true);
    expect(res.acked).toEqual(['us-east-1']);
    expect(await placements(owner, hash)).toEqual({ 'us-east-1': 'present', 'eu-west-1': 'pending', 'ap-southeast-1': 'pending' });
    await r.engine.drain();
    expect(await placements(owner, hash)).toEqual({ 'us-east-1': 'present', 'eu-west-1': 'present', 'ap-southeast-1': 'present' });
  });

  it("an available write's stragglers that land together are marked present in one statement; one landing later, on its own", async () => {
    const r = rig('A');
    const catalogOf = (e: StorageEngine) => (e as unknown as { ctx: { catalog: { markPresent: (o: string, h: string, regions: readonly string[], now: Date) => Promise<void> } } }).ctx.catalog;
    const marks: string[][] = [];
    const cat = catalogOf(r.engine);
    const mark = cat.markPresent.bind(cat);
    cat.markPresent = async (o, h, regions, now) => {
      marks.push([...regions].sort());
      return mark(o, h, regions, now);
    };
    const owner = await newUser();
    // Together: the two stragglers land about 30 ms after the first copy, within 20 ms of each other.
    r.stores.get('eu-west-1')!.latencyMs = 30;
    r.stores.get('ap-southeast-1')!.latencyMs = 35;
    const data = randomBytes(100);
    const hash = sha256Hex(data);
    const res = await r.engine.writeChunk(owner, hash, data, { mode: 'A', reason: 'test' });
    expect(res.acked).toEqual(['us-east-1']);
    await r.engine.drain();
    expect(await placements(owner, hash)).toEqual({ 'us-east-1': 'present', 'eu-west-1': 'present', 'ap-southeast-1': 'present' });
    expect(marks).toEqual([['ap-southeast-1', 'eu-west-1']]);

    // Apart: the last copy lands long after the window; it is marked when it lands, on its own.
    marks.length = 0;
    const release = holdPuts(r.stores.get('ap-southeast-1')!);
    const data2 = randomBytes(100);
    const hash2 = sha256Hex(data2);
    await r.engine.writeChunk(owner, hash2, data2, { mode: 'A', reason: 'test' });
    await waitFor(async () => (await placements(owner, hash2))['eu-west-1'] === 'present', 'the first straggler marked present');
    expect(await placements(owner, hash2)).toMatchObject({ 'ap-southeast-1': 'pending' });
    release();
    await r.engine.drain();
    expect(await placements(owner, hash2)).toEqual({ 'us-east-1': 'present', 'eu-west-1': 'present', 'ap-southeast-1': 'present' });
    expect(marks).toEqual([['eu-west-1'], ['ap-southeast-1']]);
  });

  it('a strong write that has its majority waits briefly for the last copy: landing within that grace, it is recorded present and no replication is asked for', async () => {
    const r = rig('C');
    // The majority takes about 40 ms; the last copy lands about 5 ms later, within the grace (half of that, at most 20 ms).
    r.stores.get('us-east-1')!.latencyMs = 40;
    r.stores.get('eu-west-1')!.latencyMs = 40;
    r.stores.get('ap-southeast-1')!.latencyMs = 45;
    const owner = await newUser();
    const data = randomBytes(100);
    const hash = sha256Hex(data);
    const res = await r.engine.writeChunk(owner, hash, data, { mode: 'C', reason: 'test' });
    expect(res.acked.sort()).toEqual([...REGIONS].sort());
    expect(res.pending).toEqual([]);
    expect(await placements(owner, hash)).toEqual({ 'us-east-1': 'present', 'eu-west-1': 'present', 'ap-southeast-1': 'present' });
    expect(r.kicks).toBe(0);
  });

  it('a strong write does not wait for a last copy slower than the grace: it is acknowledged with the majority, pending, and present once it lands', async () => {
    const r = rig('C');
    const release = holdPuts(r.stores.get('ap-southeast-1')!);
    const owner = await newUser();
    const data = randomBytes(100);
    const hash = sha256Hex(data);
    const res = await r.engine.writeChunk(owner, hash, data, { mode: 'C', reason: 'test' });
    expect(res.acked.sort()).toEqual(['eu-west-1', 'us-east-1']);
    expect(res.pending).toEqual(['ap-southeast-1']);
    expect(await placements(owner, hash)).toEqual({ 'us-east-1': 'present', 'eu-west-1': 'present', 'ap-southeast-1': 'pending' });
    release();
    await r.engine.drain();
    expect(await placements(owner, hash)).toEqual({ 'us-east-1': 'present', 'eu-west-1': 'present', 'ap-southeast-1': 'present' });
  });

  it('rejects a chunk whose content does not match its hash and stores nothing', async () => {
    const r = rig();
    const owner = await newUser();
    const data = randomBytes(10);
    expect(await status(r.engine.writeChunk(owner, sha256Hex(Buffer.from('other')), data, { mode: 'C', reason: 't' }))).toBe(400);
    expect([...r.stores.values()].every((s) => s.objects.size === 0)).toBe(true);
  });
});

describe('storage engine: verified reads', () => {
  it('serves a corrupted or deleted copy from another holder and marks the bad copy missing', async () => {
    const r = rig();
    const owner = await newUser();
    const data = randomBytes(3000);
    const hash = sha256Hex(data);
    const f = await r.engine.uploadStream(owner, { name: 'c.bin' }, once(data));
    const key = chunkKey(owner, hash);
    // Corrupt every copy but one, in two different ways.
    const [a, b] = REGIONS.map((x) => r.stores.get(x)!);
    const stored = a!.objects.get(key)!;
    stored[stored.length - 1] = (stored[stored.length - 1] ?? 0) ^ 0xff;
    b!.objects.delete(key);
    // The intact copy is the slowest, so the read meets both bad copies first.
    for (let i = 0; i < 20; i++) r.health.observe('ap-southeast-1', { ok: true, latencyMs: 5000 });
    const before = r.kicks;
    expect((await readAll(r.engine, owner, f.fileId)).equals(data)).toBe(true);
    const p = await placements(owner, hash);
    expect(p['ap-southeast-1']).toBe('present');
    expect([p['us-east-1'], p['eu-west-1']].sort()).toEqual(['missing', 'missing']);
    expect(r.kicks).toBeGreaterThan(before);
  });

  it('hedges a read to a second holder when the mode decision asks for it', async () => {
    const r = rig('C', { modeSource: { modeFor: async () => ({ mode: 'C', reason: 'test', hedgeReads: true }) } });
    const owner = await newUser();
    const data = randomBytes(2000);
    const f = await r.engine.uploadStream(owner, { name: 'h.bin' }, once(data));
    for (const s of r.stores.values()) s.latencyMs = 0;
    // Make every replica slow except one; the read still completes with the right bytes.
    r.stores.get('us-east-1')!.latencyMs = 300;
    r.stores.get('eu-west-1')!.latencyMs = 300;
    expect((await readAll(r.engine, owner, f.fileId)).equals(data)).toBe(true);
  });

  it("a prepared read opened with the caller's mode decision reads by it and does not ask the controller again", async () => {
    let asked = 0;
    const r = rig('C', { modeSource: { modeFor: async () => (asked++, { mode: 'C', reason: 'test', hedgeReads: false }) } });
    const owner = await newUser();
    const data = randomBytes(2000);
    const f = await r.engine.uploadStream(owner, { name: 'pr.bin' }, once(data));
    for (const s of r.stores.values()) s.latencyMs = 0;
    const prepared = await r.engine.prepareRead(owner, f.fileId);
    expect(prepared.etag).toBe(`"${f.sha256}.${f.version}"`);
    // The caller's decision hedges, the controller's would not: only the caller's can get past two
    // holders that hang far longer than this test may run.
    const healthy = 'ap-southeast-1';
    for (const [region, s] of r.stores) if (region !== healthy) s.latencyMs = 120_000;
    const before = asked;
    const read = async () => {
      const opened = await prepared.open({ decision: { mode: 'C', reason: 'the route', hedgeReads: true } });
      expect(opened.etag).toBe(prepared.etag);
      const parts: Buffer[] = [];
      for await (const piece of opened.stream) parts.push(piece as Buffer);
      return Buffer.concat(parts);
    };
    const outcome = await Promise.race([
      read().then((b) => ({ ok: b.equals(data) })),
      new Promise<{ ok: 'hung' }>((resolve) => setTimeout(() => resolve({ ok: 'hung' }), 20_000).unref()),
    ]);
    expect(outcome.ok).toBe(true);
    expect(asked, 'no second mode decision for the read').toBe(before);
  });

  it('by default hedges past a holder that does not answer instead of waiting for it (black-holed replica)', async () => {
    const r = rig('C');
    const owner = await newUser();
    const data = randomBytes(2000);
    const f = await r.engine.uploadStream(owner, { name: 'bh.bin' }, once(data));
    for (const s of r.stores.values()) s.latencyMs = 0;
    // Every holder but one hangs far longer than this test may run; the healthy one answers.
    const healthy = 'ap-southeast-1';
    for (const [region, s] of r.stores) if (region !== healthy) s.latencyMs = 120_000;
    const before = r.stores.get(healthy)!.gets;
    const outcome = await Promise.race([
      readAll(r.engine, owner, f.fileId).then((b) => ({ ok: b.equals(data) })),
      new Promise<{ ok: 'hung' }>((resolve) => setTimeout(() => resolve({ ok: 'hung' }), 20_000).unref()),
    ]);
    expect(outcome.ok).toBe(true);
    expect(r.stores.get(healthy)!.gets).toBeGreaterThan(before);
  });

  it('is 503 when no replica can serve a chunk', async () => {
    const r = rig();
    const owner = await newUser();
    const f = await r.engine.uploadStream(owner, { name: 'x.bin' }, once(randomBytes(10)));
    for (const s of r.stores.values()) s.state = 'refuse';
    await expect(readAll(r.engine, owner, f.fileId)).rejects.toThrow(/could not be read from any replica/);
  });
});

describe('storage engine: versions, ownership, limits', () => {
  it('If-Match commits only on the current version (412 otherwise); without it the commit order decides', async () => {
    const { engine } = rig();
    const owner = await newUser();
    const v1 = await engine.uploadStream(owner, { name: 'cas.txt', ifMatch: 0 }, once(Buffer.from('one')));
    expect(v1.version).toBe(1);
    const v2 = await engine.uploadStream(owner, { name: 'cas.txt', ifMatch: 1 }, once(Buffer.from('two')));
    expect(v2.version).toBe(2);
    expect(await status(engine.uploadStream(owner, { name: 'cas.txt', ifMatch: 1 }, once(Buffer.from('stale'))))).toBe(412);
    const v3 = await engine.uploadStream(owner, { name: 'cas.txt' }, once(Buffer.from('three')));
    expect(v3.version).toBe(3);
    expect((await readAll(engine, owner, v1.fileId, { version: 1 })).toString()).toBe('one');
    expect((await readAll(engine, owner, v1.fileId)).toString()).toBe('three');
  });

  it("hides another user's file behind 404 on every operation", async () => {
    const { engine } = rig();
    const alice = await newUser();
    const bob = await newUser();
    const f = await engine.uploadStream(alice, { name: 'secret.txt' }, once(Buffer.from('alice only')));
    for (const op of [
      () => engine.getFile(bob, f.fileId),
      () => engine.openRead(bob, f.fileId),
      () => engine.manifest(bob, f.fileId),
      () => engine.listVersions(bob, f.fileId),
      () => engine.softDelete(bob, f.fileId),
      () => engine.restore(bob, f.fileId),
    ]) {
      expect(await status(op())).toBe(404);
    }
    expect(await engine.listFiles(bob)).toHaveLength(0);
    expect(await status(engine.getFile(bob, 'not-a-uuid'))).toBe(404);
  });

  it('soft-deletes and restores; restore is 409 while a live file has the name', async () => {
    const { engine } = rig();
    const owner = await newUser();
    const f = await engine.uploadStream(owner, { name: 'bin.txt' }, once(Buffer.from('v')));
    await engine.softDelete(owner, f.fileId);
    expect(await status(engine.getFile(owner, f.fileId))).toBe(404);
    expect((await engine.listFiles(owner, { deleted: true })).map((x) => x.fileId)).toEqual([f.fileId]);
    const other = await engine.uploadStream(owner, { name: 'bin.txt' }, once(Buffer.from('new')));
    expect(other.fileId).not.toBe(f.fileId);
    expect(await status(engine.restore(owner, f.fileId))).toBe(409);
    await engine.softDelete(owner, other.fileId);
    const back = await engine.restore(owner, f.fileId);
    expect(back.fileId).toBe(f.fileId);
    expect((await readAll(engine, owner, f.fileId)).toString()).toBe('v');
  });

  it('validates names, the maximum file size and the quota with messages that say what to fix', async () => {
    const { engine } = rig('C', {}, { maxFileBytes: 2000, quotaBytes: 3000 });
    const owner = await newUser();
    for (const bad of ['', 'a/b', 'a\\b', '.', '..', 'tab\there', 'x'.repeat(256), 'é'.repeat(128)]) {
      const e = await engine.uploadStream(owner, { name: bad }, once(Buffer.from('x'))).catch((x: unknown) => x);
      expect((e as HttpError).status, bad).toBe(400);
    }
    const ok = await engine.uploadStream(owner, { name: 'ünïcødé 文件 ✓.txt' }, once(Buffer.from('fine')));
    expect(ok.name).toBe('ünïcødé 文件 ✓.txt');
    const big = await engine.uploadStream(owner, { name: 'big' }, once(randomBytes(2001))).catch((x: unknown) => x);
    expect((big as HttpError).status).toBe(413);
    expect((big as HttpError).message).toMatch(/maximum file size is 2000 bytes/);
    await engine.uploadStream(owner, { name: 'a' }, once(randomBytes(1990)));
    const over = await engine.uploadStream(owner, { name: 'b' }, once(randomBytes(1990))).catch((x: unknown) => x);
    expect((over as HttpError).status).toBe(413);
    expect((over as HttpError).message).toMatch(/quota/);
  });

  it('does not count the bin against the quota, and restoring is 413 when it would exceed it', async () => {
    const { engine } = rig('C', {}, { quotaBytes: 3000 });
    const owner = await newUser();
    const a = await engine.uploadStream(owner, { name: 'a' }, once(randomBytes(2000)));
    await engine.softDelete(owner, a.fileId);
    await engine.uploadStream(owner, { name: 'b' }, once(randomBytes(2000)));
    const e = await engine.restore(owner, a.fileId).catch((x: unknown) => x);
    expect((e as HttpError).status).toBe(413);
    expect((e as HttpError).code).toBe('quota_exceeded');
  });

  it('lists files with a replica summary and shows where each chunk lives', async () => {
    const r = rig('C');
    r.stores.get('eu-west-1')!.state = 'refuse';
    const owner = await newUser();
    const f = await r.engine.uploadStream(owner, { name: 'sum.bin' }, once(randomBytes(CHUNK_SIZE + 1)));
    const [item] = await r.engine.listFiles(owner);
    expect(item?.replicas).toMatchObject({ chunks: 2, present: { 'us-east-1': 2, 'eu-west-1': 0, 'ap-southeast-1': 2 }, complete: ['us-east-1', 'ap-southeast-1'], underReplicated: 0 });
    const detail = await r.engine.getFile(owner, f.fileId);
    expect(detail.placements).toHaveLength(2);
    expect(detail.placements[0]?.regions).toEqual({ 'us-east-1': 'present', 'eu-west-1': 'pending', 'ap-southeast-1': 'present' });
    const m = await r.engine.manifest(owner, f.fileId);
    expect(m.chunks.map((c) => c.offset)).toEqual([0, CHUNK_SIZE]);
    expect(m.chunks.every((c) => c.url !== null && c.region !== 'eu-west-1')).toBe(true);
  });
});

describe('storage engine: upload sessions', () => {
  it('resumes: a session that lost half its chunks finishes by sending only the rest, and dedupes known chunks', async () => {
    const r = rig();
    const owner = await newUser();
    const data = randomBytes(4 * CHUNK_SIZE + 3);
    const d = describeBuffer(data);
    const s = await r.engine.createSession(owner, { name: 'big.bin', size: data.length, sha256: d.sha256, chunks: d.chunks });
    expect(s.missing).toHaveLength(5);
    // Out of order, one at a time: chunk 1 does not wait for chunk 0, which comes only after its answer.
    for (const i of [1, 0]) await r.engine.putSessionChunk(owner, s.uploadId, d.chunks[i]!.hash, chunkOf(data, i));
    const again = await r.engine.getSession(owner, s.uploadId);
    expect(again.missing).toEqual(d.chunks.slice(2).map((c) => c.hash));
    const early = await r.engine.commitSession(owner, s.uploadId).catch((e: unknown) => e);
    expect((early as HttpError).status).toBe(400);
    expect((early as HttpError).details?.missing).toEqual(again.missing);
    for (const i of [2, 3, 4]) await r.engine.putSessionChunk(owner, s.uploadId, d.chunks[i]!.hash, chunkOf(data, i));
    const f = await r.engine.commitSession(owner, s.uploadId);
    expect(f.size).toBe(data.length);
    expect((await readAll(r.engine, owner, f.fileId)).equals(data)).toBe(true);

    // Same content again: nothing is missing.
    const s2 = await r.engine.createSession(owner, { name: 'copy.bin', size: data.length, sha256: d.sha256, chunks: d.chunks });
    expect(s2.missing).toEqual([]);
    expect((await r.engine.commitSession(owner, s2.uploadId)).sha256).toBe(d.sha256);
    expect(await status(r.engine.commitSession(owner, s2.uploadId))).toBe(409);
  });

  it('folds chunks sent together and out of order into the whole-file hash as they arrive: neither the chunk PUTs nor the commit read a chunk back', async () => {
    const r = rig();
    const owner = await newUser();
    const data = randomBytes(6 * CHUNK_SIZE + 7);
    const d = describeBuffer(data);
    const s = await r.engine.createSession(owner, { name: 'together.bin', size: data.length, sha256: d.sha256, chunks: d.chunks });
    await Promise.all([3, 1, 6, 0, 2, 5, 4].map((i) => r.engine.putSessionChunk(owner, s.uploadId, d.chunks[i]!.hash, chunkOf(data, i))));
    const f = await r.engine.commitSession(owner, s.uploadId);
    expect(replicaGets(r)).toBe(0);
    expect(f.sha256).toBe(d.sha256);
    expect((await readAll(r.engine, owner, f.fileId)).equals(data)).toBe(true);
  });

  it('a chunk sent ahead of a predecessor that is not on its way answers once its copies are written, and the chunk after it reads it back once: the commit reads nothing', async () => {
    // A wait for the hash far longer than the test's timeout: only the grace after the chunk's own
    // copies ends the request of a chunk whose predecessor is sent after its answer. A grace of 1 s
    // (250 ms by default), so that on a busy machine chunk 2 still finds chunk 1 within it.
    const r = rig('C', { sessionHash: { waitMs: 3_600_000, graceMs: 1000 } });
    const owner = await newUser();
    const data = randomBytes(4 * CHUNK_SIZE + 11);
    const d = describeBuffer(data);
    const s = await r.engine.createSession(owner, { name: 'one-at-a-time.bin', size: data.length, sha256: d.sha256, chunks: d.chunks });
    // The chunks are stored after the session began: no request of it may be counted on to bring them.
    r.now = new Date(r.now.getTime() + 1000);
    // One at a time, the second chunk first (a client that retries the first one later).
    for (const i of [1, 0, 2, 3, 4]) await r.engine.putSessionChunk(owner, s.uploadId, d.chunks[i]!.hash, chunkOf(data, i));
    expect(replicaGets(r), 'chunk 1 is read back once, by chunk 2, which folds both').toBe(1);
    const f = await r.engine.commitSession(owner, s.uploadId);
    expect(replicaGets(r), 'the commit finds the whole-file hash complete').toBe(1);
    expect(f.sha256).toBe(d.sha256);
    expect((await readAll(r.engine, owner, f.fileId)).equals(data)).toBe(true);
  });

  it('a chunk whose bytes do not match its hash joins neither the replicas nor the whole-file hash', async () => {
    const r = rig();
    const owner = await newUser();
    const data = randomBytes(2 * CHUNK_SIZE);
    const d = describeBuffer(data);
    const s = await r.engine.createSession(owner, { name: 'bad-first.bin', size: data.length, sha256: d.sha256, chunks: d.chunks });
    const wrong = Buffer.from(data.subarray(0, CHUNK_SIZE));
    wrong[0] = wrong[0]! ^ 1;
    expect(await status(r.engine.putSessionChunk(owner, s.uploadId, d.chunks[0]!.hash, wrong))).toBe(400);
    expect([...r.stores.values()].reduce((n, st) => n + st.puts, 0)).toBe(0);
    for (const i of [0, 1]) await r.engine.putSessionChunk(owner, s.uploadId, d.chunks[i]!.hash, chunkOf(data, i));
    expect((await r.engine.commitSession(owner, s.uploadId)).sha256).toBe(d.sha256);
    expect(replicaGets(r)).toBe(0);
  });

  it('rejects a chunk whose bytes do not match its hash (400, nothing stored), an undeclared chunk, and a wrong whole-file sha256', async () => {
    const r = rig();
    const owner = await newUser();
    const data = randomBytes(500);
    const d = describeBuffer(data);
    const s = await r.engine.createSession(owner, { name: 'v.bin', size: 500, sha256: d.sha256, chunks: d.chunks });
    expect(await status(r.engine.putSessionChunk(owner, s.uploadId, d.chunks[0]!.hash, randomBytes(500)))).toBe(400);
    expect([...r.stores.values()].every((x) => x.objects.size === 0)).toBe(true);
    expect(await catalog.db.select().from(chunks).where(eq(chunks.ownerId, owner))).toHaveLength(0);
    expect(await status(r.engine.putSessionChunk(owner, s.uploadId, sha256Hex(Buffer.from('z')), Buffer.from('z')))).toBe(400);

    const lie = await r.engine.createSession(owner, { name: 'lie.bin', size: 500, sha256: sha256Hex(Buffer.from('not it')), chunks: d.chunks });
    await r.engine.putSessionChunk(owner, lie.uploadId, d.chunks[0]!.hash, data);
    const e = await r.engine.commitSession(owner, lie.uploadId).catch((x: unknown) => x);
    expect((e as HttpError).status).toBe(400);
    expect((e as HttpError).code).toBe('sha256_mismatch');
  });

  it('in strong mode counts a chunk held by fewer than a majority as missing, and resending it completes the majority', async () => {
    const r = rig('A');
    r.stores.get('eu-west-1')!.state = 'refuse';
    r.stores.get('ap-southeast-1')!.state = 'refuse';
    const owner = await newUser();
    const data = randomBytes(700);
    const d = describeBuffer(data);
    await r.engine.writeChunk(owner, d.chunks[0]!.hash, data, { mode: 'A', reason: 't' });
    r.stores.get('eu-west-1')!.state = 'up';
    r.mode = 'C';
    const s = await r.engine.createSession(owner, { name: 'weak.bin', size: 700, sha256: d.sha256, chunks: d.chunks });
    expect(s.missing).toEqual([d.chunks[0]!.hash]);
    expect(await status(r.engine.commitSession(owner, s.uploadId))).toBe(400);
    const w = await r.engine.putSessionChunk(owner, s.uploadId, d.chunks[0]!.hash, data);
    expect(w.acked.sort()).toEqual(['eu-west-1', 'us-east-1']);
    expect((await r.engine.commitSession(owner, s.uploadId)).mode).toBe('C');
  });

  it('rejects a chunk list that does not cut the file into 1 MiB chunks', async () => {
    const { engine } = rig();
    const owner = await newUser();
    const h = sha256Hex(Buffer.from('a'));
    expect(await status(engine.createSession(owner, { name: 'x', size: CHUNK_SIZE + 1, sha256: h, chunks: [{ hash: h, size: CHUNK_SIZE + 1 }] }))).toBe(400);
    expect(await status(engine.createSession(owner, { name: 'x', size: 10, sha256: h, chunks: [{ hash: h, size: 5 }, { hash: h, size: 5 }] }))).toBe(400);
    expect(await status(engine.createSession(owner, { name: 'x', size: 1, sha256: 'nothex', chunks: [{ hash: h, size: 1 }] }))).toBe(400);
  });

  it('expires an uncommitted session after the upload TTL', async () => {
    const r = rig('C', {}, { uploadTtlSeconds: 60 });
    const owner = await newUser();
    const d = describeBuffer(Buffer.from('soon gone'));
    const s = await r.engine.createSession(owner, { name: 'e.txt', size: 9, sha256: d.sha256, chunks: d.chunks });
    r.now = new Date(r.now.getTime() + 61_000);
    const e = await r.engine.putSessionChunk(owner, s.uploadId, d.chunks[0]!.hash, Buffer.from('soon gone')).catch((x: unknown) => x);
    expect((e as HttpError).status).toBe(404);
    expect((e as HttpError).code).toBe('upload_expired');
    const row = await catalog.db.select().from(uploadSessions).where(eq(uploadSessions.id, s.uploadId));
    expect(row[0]?.committedAt).toBeNull();
  });

  it("hides another user's session behind 404", async () => {
    const { engine } = rig();
    const alice = await newUser();
    const bob = await newUser();
    const d = describeBuffer(Buffer.from('hi'));
    const s = await engine.createSession(alice, { name: 'hi', size: 2, sha256: d.sha256, chunks: d.chunks });
    expect(await status(engine.getSession(bob, s.uploadId))).toBe(404);
    expect(await status(engine.putSessionChunk(bob, s.uploadId, d.chunks[0]!.hash, Buffer.from('hi')))).toBe(404);
    expect(await status(engine.commitSession(bob, s.uploadId))).toBe(404);
  });
});

describe('mode seam', () => {
  it('uses fixedMode from configuration by default and a ModeSource when given', async () => {
    const seen: (string | undefined)[] = [];
    const r = rig('A', {
      modeSource: {
        modeFor: async (owner, obj) => {
          seen.push(obj);
          return fixedMode('H').modeFor(owner, obj);
        },
      },
    });
    const owner = await newUser();
    const f = await r.engine.uploadStream(owner, { name: 'seam.txt' }, once(Buffer.from('x')));
    expect(f.mode).toBe('H');
    expect(seen).toContain('seam.txt');
  });
});

beforeEach(() => undefined);
