/**
 * The one-statement commit (shared/catalog/usage-repository.ts `commitVersionIf`) under races, on
 * PGlite and, with DATABASE_URL, on PostgreSQL (a pool of connections: the statements really run
 * at once). Several engines over one catalog stand for several containers. Whatever the
 * interleaving, versions stay unique and dense, If-Match lets one writer through, the quota holds,
 * the usage counter equals the sum of kept versions, and a refused commit still records the chunk
 * it stored (so garbage collection can find it) while committing nothing.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows, type Db } from '#shared/catalog/db.js';
import { chunkPlacements, chunks, files, users } from '#shared/catalog/schema.js';
import { DrizzleUsageRepository } from '#shared/catalog/usage-repository.js';
import { HealthTracker } from '#shared/controller/health.js';
import { HttpError } from '#shared/errors.js';
import { CHUNK_SIZE, describeBuffer, sha256Hex } from '#shared/storage/codec.js';
import { StorageEngine } from '#shared/storage/engine.js';
import { MemoryObjectStore } from '#shared/storage/memory-store.js';
import { waitFor } from '../helpers/wait.js';
import { catalogTargets, openTestCatalog, type TestCatalog } from './catalog-fixtures.js';

const REGIONS = ['us-east-1', 'eu-west-1', 'ap-southeast-1'];

async function* once(b: Buffer): AsyncGenerator<Buffer> {
  yield b;
}

/** The HTTP status and code a failed operation carries (the test fails if it succeeds). */
async function refusal(p: Promise<unknown>): Promise<{ status: number; code: string | undefined }> {
  const err = await p.then(
    () => {
      throw new Error('expected a refusal');
    },
    (e: unknown) => e,
  );
  if (!(err instanceof HttpError)) throw err;
  return { status: err.status, code: err.code };
}

describe.each(catalogTargets)('one-statement commit on %s', (target) => {
  let t: TestCatalog;
  let db: Db;
  const stores = new Map(REGIONS.map((r) => [r, new MemoryObjectStore(r)]));
  const engine = (quotaBytes = 256 * CHUNK_SIZE) =>
    new StorageEngine({
      db,
      stores,
      config: { mode: 'C', maxFileBytes: 64 * CHUNK_SIZE, quotaBytes, uploadTtlSeconds: 3600, replicaTimeoutMs: 5000 },
      health: new HealthTracker(),
      modeSource: { modeFor: async () => ({ mode: 'C', reason: 'test' }) },
    });

  beforeAll(async () => {
    t = await openTestCatalog(target);
    db = t.catalog.db;
  });
  afterAll(async () => {
    await t?.dispose();
  });

  async function newUser(): Promise<string> {
    const id = randomUUID();
    await db.insert(users).values({ id, username: `u${id.slice(0, 8)}`, email: `${id}@example.com`, passwordHash: 'x' });
    return id;
  }
  const usedBytes = async (owner: string) => Number((await db.select({ n: users.usedBytes }).from(users).where(eq(users.id, owner)))[0]?.n);
  const keptBytes = async (owner: string) =>
    Number(
      (
        await queryRows<{ n: string | number }>(
          db,
          sql`select coalesce(sum(v.size), 0) as n from file_versions v join files f on f.id = v.file_id where f.owner_id = ${owner} and f.deleted_at is null and v.deleted_at is null`,
        )
      )[0]?.n,
    );
  const versionsOf = async (owner: string, name: string) =>
    (
      await queryRows<{ version: number }>(
        db,
        sql`select v.version from file_versions v join files f on f.id = v.file_id where f.owner_id = ${owner} and f.name = ${name} order by v.version`,
      )
    ).map((r) => Number(r.version));

  /**
   * Another container takes the owner's lock, does `work` in its transaction and holds the lock;
   * `commitOnceWaiting()` lets that transaction commit once a commit statement waits for the lock.
   */
  async function holdOwnerLock(owner: string, work: (tx: Parameters<Parameters<Db['transaction']>[0]>[0]) => Promise<unknown>): Promise<{ commitOnceWaiting(): Promise<void> }> {
    const other = await t.reopen();
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    let worked: () => void = () => undefined;
    const isWorked = new Promise<void>((resolve) => (worked = resolve));
    const done = other.db.transaction(async (tx) => {
      await tx.select({ id: users.id }).from(users).where(eq(users.id, owner)).for('update');
      await work(tx);
      worked();
      await released;
    });
    await isWorked;
    return {
      async commitOnceWaiting() {
        try {
          await waitFor(
            async () => (await queryRows(db, sql`select 1 from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and query like '%lk as (select used_bytes%'`)).length > 0,
            'the commit statement waits for the owner lock',
          );
        } finally {
          release();
        }
        await done;
      },
    };
  }

  it('concurrent writes of one new name from several containers: one file, versions 1..N, each write answered with its own version', async () => {
    const owner = await newUser();
    const engines = [engine(), engine(), engine(), engine()];
    const n = 12;
    const results = await Promise.all(Array.from({ length: n }, (_, i) => engines[i % engines.length]!.uploadStream(owner, { name: 'race.bin' }, once(randomBytes(100 + i)))));
    expect(new Set(results.map((r) => r.fileId)).size).toBe(1);
    expect(results.map((r) => r.version).sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    expect(await versionsOf(owner, 'race.bin')).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    expect(await usedBytes(owner)).toBe(await keptBytes(owner));
  });

  it('concurrent If-Match writers of the same version: exactly one commits, the others get 412 version_mismatch', async () => {
    const owner = await newUser();
    const e = engine();
    await e.uploadStream(owner, { name: 'cas.bin' }, once(randomBytes(64)));
    const outcomes = await Promise.allSettled(Array.from({ length: 6 }, () => engine().uploadStream(owner, { name: 'cas.bin', ifMatch: 1 }, once(randomBytes(64)))));
    const won = outcomes.filter((o) => o.status === 'fulfilled');
    expect(won).toHaveLength(1);
    for (const o of outcomes) {
      if (o.status === 'rejected') expect(o.reason).toMatchObject({ status: 412, code: 'version_mismatch' });
    }
    expect(await versionsOf(owner, 'cas.bin')).toEqual([1, 2]);
    expect(await refusal(e.uploadStream(owner, { name: 'new.bin', ifMatch: 3 }, once(randomBytes(8))))).toEqual({ status: 412, code: 'version_mismatch' });
  });

  it('concurrent writes near the quota: no more commit than fit, the rest get 413 quota_exceeded, and the counter stays exact', async () => {
    const owner = await newUser();
    const size = 1000;
    const quota = 3500; // three writes fit
    const outcomes = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => engine(quota).uploadStream(owner, { name: `q${i}` }, once(randomBytes(size)))));
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(3);
    for (const o of outcomes) {
      if (o.status === 'rejected') expect(o.reason).toMatchObject({ status: 413, code: 'quota_exceeded' });
    }
    expect(await usedBytes(owner)).toBe(3 * size);
    expect(await keptBytes(owner)).toBe(3 * size);
  });

  it('a refused commit writes no version and leaves usage alone, but records the chunk it stored with its copies', async () => {
    const owner = await newUser();
    const e = engine(2000);
    await e.uploadStream(owner, { name: 'a' }, once(randomBytes(1500)));
    const body = randomBytes(1000);
    expect(await refusal(e.uploadStream(owner, { name: 'b' }, once(body)))).toEqual({ status: 413, code: 'quota_exceeded' });
    expect(await refusal(e.uploadStream(owner, { name: 'a', ifMatch: 7 }, once(randomBytes(10))))).toEqual({ status: 412, code: 'version_mismatch' });
    expect(await versionsOf(owner, 'b')).toEqual([]);
    expect(await versionsOf(owner, 'a')).toEqual([1]);
    expect(await usedBytes(owner)).toBe(1500);
    const hash = sha256Hex(body);
    expect(await db.select({ hash: chunks.hash }).from(chunks).where(eq(chunks.hash, hash))).toHaveLength(1);
    await e.drain();
    const copies = await db.select({ region: chunkPlacements.region, state: chunkPlacements.state }).from(chunkPlacements).where(eq(chunkPlacements.hash, hash));
    expect(copies.map((c) => c.region).sort()).toEqual([...REGIONS].sort());
    expect(copies.every((c) => c.state === 'present')).toBe(true);
  });

  it('an upload of several chunks and a re-upload of the same bytes (the last chunk known) commit and read back', async () => {
    const owner = await newUser();
    const e = engine();
    const data = randomBytes(2 * CHUNK_SIZE + 5);
    const first = await e.uploadStream(owner, { name: 'multi.bin' }, once(data));
    const again = await e.uploadStream(owner, { name: 'multi.bin' }, once(data));
    expect([first.version, again.version, again.chunks]).toEqual([1, 2, 3]);
    const r = await e.openRead(owner, first.fileId);
    const parts: Buffer[] = [];
    for await (const piece of r.stream) parts.push(Buffer.from(piece));
    expect(sha256Hex(Buffer.concat(parts))).toBe(sha256Hex(data));
    expect(await usedBytes(owner)).toBe(2 * data.length);
  });

  it('two commits of one upload session at once: one version, the other 409 upload_committed', async () => {
    const owner = await newUser();
    const e = engine();
    const data = randomBytes(CHUNK_SIZE + 9);
    const d = describeBuffer(data);
    const s = await e.createSession(owner, { name: 'sess.bin', size: data.length, sha256: d.sha256, chunks: d.chunks });
    await e.putSessionChunk(owner, s.uploadId, d.chunks[0]!.hash, data.subarray(0, CHUNK_SIZE));
    await e.putSessionChunk(owner, s.uploadId, d.chunks[1]!.hash, data.subarray(CHUNK_SIZE));
    const outcomes = await Promise.allSettled([engine().commitSession(owner, s.uploadId), engine().commitSession(owner, s.uploadId)]);
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    const lost = outcomes.find((o) => o.status === 'rejected');
    expect(lost?.status === 'rejected' ? lost.reason : undefined).toMatchObject({ status: 409, code: 'upload_committed' });
    expect(await versionsOf(owner, 'sess.bin')).toEqual([1]);
    expect(await usedBytes(owner)).toBe(data.length);
  });
  it.runIf(target === 'postgres')('a rename that lands while the commit waits for the owner lock: the write goes to the name it asked for, not to the renamed file', async () => {
    const owner = await newUser();
    const e = engine();
    const a = await e.uploadStream(owner, { name: 'a' }, once(randomBytes(10)));
    // Another container renames 'a' to 'b' under the owner's lock, and holds it.
    const rename = await holdOwnerLock(owner, (tx) => tx.update(files).set({ name: 'b' }).where(eq(files.id, a.fileId)));
    const write = e.uploadStream(owner, { name: 'a' }, once(randomBytes(20)));
    await rename.commitOnceWaiting();
    const w = await write;
    expect(w.fileId).not.toBe(a.fileId);
    expect(w.version).toBe(1);
    expect(await versionsOf(owner, 'a')).toEqual([1]);
    expect(await versionsOf(owner, 'b')).toEqual([1]);
    expect(await usedBytes(owner)).toBe(30);
  });

  it.runIf(target === 'postgres')(
    'a same-name write that commits while the statement waits for the owner lock: a write without If-Match still commits in its one statement, with the next number; under If-Match of the version it read it does not',
    async () => {
      const owner = await newUser();
      const a = await engine().uploadStream(owner, { name: 'a' }, once(randomBytes(10)));
      const repo = new DrizzleUsageRepository(db);
      const version = (size: number) => ({ name: 'a', size, sha256: sha256Hex(randomBytes(8)), contentType: 'application/octet-stream', chunks: [], mode: 'C' as const });
      /** Another container writes version `n` of 'a' under the owner's lock, and holds it. */
      const racingWrite = (n: number) =>
        holdOwnerLock(owner, async (tx) => {
          await tx.execute(sql`insert into file_versions (file_id, version, size, sha256, chunk_count, content_type, mode, created_at)
            values (${a.fileId}, ${n}, 5, ${'0'.repeat(64)}, 0, 'application/octet-stream', 'C', now())`);
          await tx.execute(sql`update files set current_version = ${n} where id = ${a.fileId}`);
          await tx.execute(sql`update users set used_bytes = used_bytes + 5 where id = ${owner}`);
        });

      // Without If-Match: the statement reads version 1 as current; version 2 commits meanwhile.
      const race2 = await racingWrite(2);
      const blind = repo.commitVersionIf(owner, version(7), new Date(), { usedAtMost: 1_000_000 });
      await race2.commitOnceWaiting();
      const b = await blind;
      expect(b, 'committed by the statement itself, not left to the transaction').toBeDefined();
      expect(b?.v.version).toBe(3);
      expect(await versionsOf(owner, 'a')).toEqual([1, 2, 3]);
      expect(Number((await db.select({ v: files.currentVersion }).from(files).where(eq(files.id, a.fileId)))[0]?.v)).toBe(3);

      // With If-Match 3 (the version it reads): version 4 commits meanwhile, so this one must not.
      const race4 = await racingWrite(4);
      const cas = repo.commitVersionIf(owner, version(9), new Date(), { usedAtMost: 1_000_000, currentVersion: 3 });
      await race4.commitOnceWaiting();
      expect(await cas, 'a stale If-Match commits nothing').toBeUndefined();
      expect(await versionsOf(owner, 'a')).toEqual([1, 2, 3, 4]);
      expect(await usedBytes(owner)).toBe(10 + 5 + 7 + 5);
      expect(await usedBytes(owner)).toBe(await keptBytes(owner));
    },
  );
});
