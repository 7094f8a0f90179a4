/**
 * Fixtures for the replicator, anti-entropy and GC tests: a catalog (PGlite in memory, or a fresh
 * database on the PostgreSQL server named by DATABASE_URL), an in-memory ObjectStore that counts
 * writes and can refuse calls, and helpers that seed users, chunks and placements directly.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { openCatalog, type Catalog, type Db } from '#shared/catalog/db.js';
import { openSeededCatalog } from '../helpers/catalog-template.js';
import { createTestDatabase } from '../helpers/databases.js';
import { chunkPlacements, chunks, files, fileVersions, uploadSessions, users, versionChunks, type PlacementState } from '#shared/catalog/schema.js';
import { encodeChunk } from '#shared/storage/codec.js';
import { chunkKey, type ObjectStore } from '#shared/storage/ports.js';

/** PGlite in memory, opened from the migrated template's dump (test/helpers/catalog-template.ts). */
export async function openPgliteCatalog(): Promise<Catalog> {
  return openSeededCatalog();
}

/**
 * A fresh database (echofs_t_<random>) on the server DATABASE_URL points at; dropped by close().
 * Returns undefined when DATABASE_URL is not set.
 */
export async function openPostgresCatalog(): Promise<Catalog | undefined> {
  const url = process.env.DATABASE_URL;
  if (!url) return undefined;
  const db = await createTestDatabase(url);
  const catalog = await openCatalog({ databaseUrl: db.url, poolMax: 8, migrate: true });
  return {
    ...catalog,
    async close() {
      await catalog.close();
      await db.drop();
    },
  };
}

export type MemoryFault = 'up' | 'refuse';

/** Wraps any store and counts PUTs per key (to prove no row is copied twice). */
export class CountingStore implements ObjectStore {
  readonly puts = new Map<string, number>();
  constructor(readonly inner: ObjectStore) {}
  get region(): string {
    return this.inner.region;
  }
  async put(key: string, body: Buffer, signal?: AbortSignal) {
    this.puts.set(key, (this.puts.get(key) ?? 0) + 1);
    return this.inner.put(key, body, signal);
  }
  get(key: string, signal?: AbortSignal) {
    return this.inner.get(key, signal);
  }
  exists(key: string, signal?: AbortSignal) {
    return this.inner.exists(key, signal);
  }
  delete(key: string, signal?: AbortSignal) {
    return this.inner.delete(key, signal);
  }
  list(prefix: string) {
    return this.inner.list(prefix);
  }
  presignGet(key: string, expiresInSeconds: number) {
    return this.inner.presignGet(key, expiresInSeconds);
  }
}

/** A clock the test moves by hand. */
export class FakeClock {
  constructor(public t = Date.UTC(2026, 0, 1)) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

export async function createUser(db: Db): Promise<string> {
  const id = randomUUID();
  const tag = id.slice(0, 8);
  await db.insert(users).values({ id, username: `u${tag}`, email: `u${tag}@example.test`, passwordHash: 'x' });
  return id;
}

export interface SeededChunk {
  ownerId: string;
  hash: string;
  key: string;
  plain: Buffer;
  stored: Buffer;
}

/**
 * Store one chunk the way the write path leaves it: the encoded bytes in the `present` regions'
 * stores, a chunks row, and one placement row per region (present or pending).
 */
export async function seedChunk(
  db: Db,
  stores: ReadonlyMap<string, ObjectStore>,
  o: { ownerId: string; present: string[]; pending?: string[]; plain?: Buffer; at?: Date; touchedAt?: Date },
): Promise<SeededChunk> {
  const plain = o.plain ?? randomBytes(2048);
  const enc = await encodeChunk(plain);
  const key = chunkKey(o.ownerId, enc.hash);
  for (const r of o.present) await (stores.get(r) as ObjectStore).put(key, enc.stored);
  const at = o.at ?? new Date();
  await db
    .insert(chunks)
    .values({ ownerId: o.ownerId, hash: enc.hash, size: enc.size, storedSize: enc.stored.length, compressed: enc.compressed, createdAt: at, touchedAt: o.touchedAt ?? at })
    .onConflictDoNothing();
  const rows: { region: string; state: PlacementState }[] = [
    ...o.present.map((region) => ({ region, state: 'present' as const })),
    ...(o.pending ?? []).map((region) => ({ region, state: 'pending' as const })),
  ];
  if (rows.length > 0) {
    await db.insert(chunkPlacements).values(
      rows.map((r) => ({ ownerId: o.ownerId, hash: enc.hash, region: r.region, state: r.state, pendingSince: r.state === 'pending' ? at : null, updatedAt: at })),
    );
  }
  return { ownerId: o.ownerId, hash: enc.hash, key, plain, stored: enc.stored };
}

export async function placements(db: Db, ownerId: string, hash: string): Promise<Record<string, typeof chunkPlacements.$inferSelect>> {
  const rows = await db.select().from(chunkPlacements).where(sql`${chunkPlacements.ownerId} = ${ownerId} and ${chunkPlacements.hash} = ${hash}`);
  return Object.fromEntries(rows.map((r) => [r.region, r]));
}

export async function statesOf(db: Db): Promise<Record<string, number>> {
  const rows = await db
    .select({ state: chunkPlacements.state, n: sql<number>`count(*)`.mapWith(Number) })
    .from(chunkPlacements)
    .groupBy(chunkPlacements.state);
  return Object.fromEntries(rows.map((r) => [r.state, r.n]));
}

/** A file with one version referencing `hashes` (as the write path commits it). */
export async function createFileVersion(
  db: Db,
  ownerId: string,
  hashes: string[],
  o: { name?: string; deletedAt?: Date } = {},
): Promise<{ fileId: string; versionId: string }> {
  const [file] = await db
    .insert(files)
    .values({ ownerId, name: o.name ?? `f-${randomUUID()}`, currentVersion: 1, deletedAt: o.deletedAt ?? null })
    .returning({ id: files.id });
  const [version] = await db
    .insert(fileVersions)
    .values({ fileId: file!.id, version: 1, size: hashes.length, sha256: 'x'.repeat(64), chunkCount: hashes.length, mode: 'C' })
    .returning({ id: fileVersions.id });
  if (hashes.length > 0) {
    await db.insert(versionChunks).values(hashes.map((h, idx) => ({ versionId: version!.id, idx, chunkHash: h, size: 1 })));
  }
  return { fileId: file!.id, versionId: version!.id };
}

/** An upload session declaring `hashes`, expiring at `expiresAt`. */
export async function createSession(db: Db, ownerId: string, hashes: string[], expiresAt: Date): Promise<string> {
  const [s] = await db
    .insert(uploadSessions)
    .values({ ownerId, name: 'upload', size: hashes.length, sha256: 'y'.repeat(64), chunks: hashes.map((hash) => ({ hash, size: 1 })), expiresAt })
    .returning({ id: uploadSessions.id });
  return s!.id;
}

/** Wraps any store and refuses every call while `state` is 'refuse' (a replica taken away). */
export class FaultyStore implements ObjectStore {
  state: MemoryFault = 'up';
  constructor(private readonly inner: ObjectStore) {}
  get region(): string {
    return this.inner.region;
  }
  private gate(op: string): void {
    if (this.state === 'refuse') {
      const err = new Error(`connect ECONNREFUSED (${this.region} ${op})`) as NodeJS.ErrnoException;
      err.code = 'ECONNREFUSED';
      throw err;
    }
  }
  async put(key: string, body: Buffer, signal?: AbortSignal): Promise<void> {
    this.gate('put');
    return this.inner.put(key, body, signal);
  }
  async get(key: string, signal?: AbortSignal): Promise<Buffer | undefined> {
    this.gate('get');
    return this.inner.get(key, signal);
  }
  async exists(key: string, signal?: AbortSignal): Promise<boolean> {
    this.gate('exists');
    return this.inner.exists(key, signal);
  }
  async delete(key: string, signal?: AbortSignal): Promise<void> {
    this.gate('delete');
    return this.inner.delete(key, signal);
  }
  async *list(prefix: string): AsyncIterable<{ key: string; size: number }> {
    this.gate('list');
    yield* this.inner.list(prefix);
  }
  presignGet(key: string, expiresInSeconds: number): Promise<string> {
    return this.inner.presignGet(key, expiresInSeconds);
  }
}
