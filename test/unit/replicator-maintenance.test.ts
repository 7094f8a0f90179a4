import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import type { Catalog, Db } from '#shared/catalog/db.js';
import { chunks, files, fileVersions, uploadSessions } from '#shared/catalog/schema.js';
import { sweep } from '#shared/storage/antientropy.js';
import { collectGarbage } from '#shared/storage/gc.js';
import { drainBacklog, RegionBackoff } from '#shared/storage/replicator.js';
import {
  createFileVersion,
  createSession,
  createUser,
  FakeClock,
  openPgliteCatalog,
  placements,
  seedChunk,
} from '../integration/replication-fixtures.js';
import { MemoryObjectStore } from '#shared/storage/memory-store.js';

const REGIONS = ['us-east-1', 'eu-west-1', 'ap-southeast-1'];
const ALL = { present: REGIONS };
let catalog: Catalog;
let db: Db;
let stores: Map<string, MemoryObjectStore>;
let clock: FakeClock;
let owner: string;

beforeAll(async () => {
  catalog = await openPgliteCatalog();
  db = catalog.db;
});
afterAll(async () => {
  await catalog?.close();
});
beforeEach(async () => {
  for (const t of ['chunk_placements', 'chunks', 'version_chunks', 'file_versions', 'files', 'upload_sessions']) await db.execute(sql.raw(`delete from ${t}`));
  stores = new Map(REGIONS.map((r) => [r, new MemoryObjectStore(r)]));
  clock = new FakeClock();
  owner = await createUser(db);
});
const at = () => new Date(clock.now());

describe('anti-entropy sweep', () => {
  it('marks a deleted copy missing, leaves intact ones alone, and the replicator repairs it', async () => {
    const c = await seedChunk(db, stores, { ownerId: owner, ...ALL, at: at() });
    const d = await seedChunk(db, stores, { ownerId: owner, ...ALL, at: at() });
    stores.get('eu-west-1')!.objects.delete(c.key);

    const stats = await sweep({ db, stores, clock });
    expect(stats).toMatchObject({ checked: 6, ok: 5, missing: 1, corrupt: 0, markedMissing: 1, cursor: undefined });
    expect((await placements(db, owner, c.hash))['eu-west-1']).toMatchObject({ state: 'missing' });
    expect(Object.values(await placements(db, owner, d.hash)).map((r) => r.state)).toEqual(['present', 'present', 'present']);

    await drainBacklog({ db, stores, workerId: 'w', clock, regionBackoff: new RegionBackoff() });
    expect(stores.get('eu-west-1')!.objects.get(c.key)?.equals(c.stored)).toBe(true);
    expect((await placements(db, owner, c.hash))['eu-west-1']?.state).toBe('present');
  });

  it('with verification finds a corrupt copy (bytes changed, object still there)', async () => {
    const c = await seedChunk(db, stores, { ownerId: owner, ...ALL, at: at() });
    const bad = Buffer.from(c.stored);
    bad[5]! ^= 0x01;
    stores.get('ap-southeast-1')!.objects.set(c.key, bad);

    const existsOnly = await sweep({ db, stores, clock });
    expect(existsOnly.markedMissing).toBe(0);
    const verified = await sweep({ db, stores, clock, verifyFraction: 1 });
    expect(verified).toMatchObject({ verified: 2, corrupt: 1, markedMissing: 1 });
    expect((await placements(db, owner, c.hash))['ap-southeast-1']?.lastError).toContain('corrupt');
  });

  it('is bounded per run and continues from its cursor until it has seen every placement', async () => {
    for (let i = 0; i < 7; i++) await seedChunk(db, stores, { ownerId: owner, ...ALL, at: at() });
    let total = 0;
    let runs = 0;
    let cursor;
    do {
      const s = await sweep({ db, stores, clock, cursor, pageSize: 2, maxRows: 5 });
      expect(s.checked).toBeLessThanOrEqual(5);
      total += s.checked;
      cursor = s.cursor;
      runs += 1;
    } while (cursor && runs < 10);
    expect(total).toBe(21);
    expect(runs).toBe(5);
  });

  it('does not mark copies missing when their region does not answer', async () => {
    await seedChunk(db, stores, { ownerId: owner, ...ALL, at: at() });
    stores.get('us-east-1')!.state = 'refuse';
    const s = await sweep({ db, stores, clock });
    expect(s).toMatchObject({ unreachable: 1, markedMissing: 0, ok: 2 });
  });
});

describe('garbage collection', () => {
  const GRACE = 3600;

  it('deletes an unreferenced chunk from every replica and the catalog once the grace period has passed', async () => {
    const c = await seedChunk(db, stores, { ownerId: owner, present: ['us-east-1', 'eu-west-1'], pending: ['ap-southeast-1'], at: at() });
    const young = await collectGarbage({ db, stores, clock, graceSeconds: GRACE });
    expect(young.chunksDeleted).toBe(0);
    expect(stores.get('us-east-1')!.objects.has(c.key)).toBe(true);

    clock.advance(GRACE * 1000 + 1);
    const old = await collectGarbage({ db, stores, clock, graceSeconds: GRACE });
    expect(old.chunksDeleted).toBe(1);
    for (const s of stores.values()) expect(s.objects.has(c.key)).toBe(false);
    expect(await placements(db, owner, c.hash)).toEqual({});
    expect(await db.select().from(chunks)).toEqual([]);
  });

  it('keeps chunks referenced by a live or a soft-deleted version', async () => {
    const live = await seedChunk(db, stores, { ownerId: owner, ...ALL, at: at() });
    const binned = await seedChunk(db, stores, { ownerId: owner, ...ALL, at: at() });
    await createFileVersion(db, owner, [live.hash]);
    await createFileVersion(db, owner, [binned.hash], { deletedAt: at() });
    clock.advance(GRACE * 1000 * 10);
    const s = await collectGarbage({ db, stores, clock, graceSeconds: GRACE });
    expect(s.chunksDeleted).toBe(0);
    for (const c of [live, binned]) for (const st of stores.values()) expect(st.objects.has(c.key)).toBe(true);
  });

  it('does not count another owner’s version as a reference', async () => {
    const other = await createUser(db);
    const c = await seedChunk(db, stores, { ownerId: owner, ...ALL, at: at() });
    await createFileVersion(db, other, [c.hash]);
    clock.advance(GRACE * 1000 + 1);
    expect((await collectGarbage({ db, stores, clock, graceSeconds: GRACE })).chunksDeleted).toBe(1);
  });

  it('keeps a chunk declared by an unexpired upload session, and collects it after the session expires and is purged', async () => {
    const c = await seedChunk(db, stores, { ownerId: owner, ...ALL, at: at() });
    await createSession(db, owner, [c.hash], new Date(clock.now() + 2 * GRACE * 1000));
    clock.advance(GRACE * 1000 + 1);
    const during = await collectGarbage({ db, stores, clock, graceSeconds: GRACE });
    expect(during).toMatchObject({ chunksDeleted: 0, sessionsPurged: 0 });

    clock.advance(GRACE * 1000);
    const after = await collectGarbage({ db, stores, clock, graceSeconds: GRACE });
    expect(after).toMatchObject({ chunksDeleted: 1, sessionsPurged: 1 });
    expect(await db.select().from(uploadSessions)).toEqual([]);
  });

  it('when one replica fails to delete, no placement claims a copy any more and a later run finishes', async () => {
    const c = await seedChunk(db, stores, { ownerId: owner, ...ALL, at: at() });
    clock.advance(GRACE * 1000 + 1);
    stores.get('us-east-1')!.state = 'refuse';
    const partial = await collectGarbage({ db, stores, clock, graceSeconds: GRACE });
    expect(partial).toMatchObject({ chunksDeleted: 0, failed: 1, objectsDeleted: 2 });
    expect(await placements(db, owner, c.hash)).toEqual({});
    expect(await db.select({ hash: chunks.hash }).from(chunks)).toEqual([{ hash: c.hash }]);

    stores.get('us-east-1')!.state = 'up';
    const done = await collectGarbage({ db, stores, clock, graceSeconds: GRACE });
    expect(done.chunksDeleted).toBe(1);
    expect(stores.get('us-east-1')!.objects.has(c.key)).toBe(false);
    expect(await db.select().from(chunks)).toEqual([]);
  });

  it('keeps an old unreferenced chunk once an upload has touched it again', async () => {
    const c = await seedChunk(db, stores, { ownerId: owner, ...ALL, at: at() });
    clock.advance(GRACE * 1000 + 1);
    await db.update(chunks).set({ touchedAt: at() });
    expect((await collectGarbage({ db, stores, clock, graceSeconds: GRACE })).chunksDeleted).toBe(0);
    expect(stores.get('eu-west-1')!.objects.has(c.key)).toBe(true);
  });

  it('does nothing to chunks while a replica is judged unreachable', async () => {
    const c = await seedChunk(db, stores, { ownerId: owner, ...ALL, at: at() });
    clock.advance(GRACE * 1000 + 1);
    const health = { observe() {}, ranked: (rs: readonly string[]) => rs.filter((r) => r !== 'eu-west-1') };
    const s = await collectGarbage({ db, stores, health, clock, graceSeconds: GRACE });
    expect(s).toMatchObject({ skippedUnreachable: true, chunksDeleted: 0 });
    expect(stores.get('us-east-1')!.objects.has(c.key)).toBe(true);
  });

  it('purges versions and files kept in the bin longer than the retention, then their chunks', async () => {
    const c = await seedChunk(db, stores, { ownerId: owner, ...ALL, at: at() });
    await createFileVersion(db, owner, [c.hash], { deletedAt: at() });
    clock.advance(GRACE * 1000 + 1);
    const withoutRetention = await collectGarbage({ db, stores, clock, graceSeconds: GRACE });
    expect(withoutRetention).toMatchObject({ versionsPurged: 0, chunksDeleted: 0 });
    const s = await collectGarbage({ db, stores, clock, graceSeconds: GRACE, trashRetentionSeconds: GRACE });
    expect(s).toMatchObject({ versionsPurged: 1, filesPurged: 1, chunksDeleted: 1 });
    expect(await db.select().from(files)).toEqual([]);
    expect(await db.select().from(fileVersions)).toEqual([]);
  });
});
