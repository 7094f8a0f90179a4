/**
 * The data path's catalog repository: every SQL statement the storage engine runs (chunks and
 * their placements, files, versions, manifests, upload sessions, quota), behind one port. The
 * engine's modules call `CatalogRepository`; `DrizzleCatalogRepository` is its adapter over the
 * Drizzle `Db` (PGlite, node-postgres or the RDS Data API: only portable SQL is used here).
 * Business rules (quorum, CAS, quota limits) stay in shared/storage/; this file only reads and writes.
 */
import { and, asc, desc, eq, inArray, isNotNull, isNull, sql } from 'drizzle-orm';
import type { Mode } from '../config.js';
import { Conflict, NotFound } from '../errors.js';
import { queryRows, type Db, type Tx } from './db.js';
import { chunkPlacements, chunks, files, fileVersions, uploadSessions, users, versionChunks, type PlacementState } from './schema.js';

export type FileRow = typeof files.$inferSelect;
export type VersionRow = typeof fileVersions.$inferSelect;
export type SessionRow = typeof uploadSessions.$inferSelect;
export interface Placement {
  region: string;
  state: PlacementState;
}
export interface ManifestRow {
  idx: number;
  hash: string;
  size: number;
  compressed: boolean;
  placements: Placement[];
}
export interface NewVersion {
  name: string;
  size: number;
  sha256: string;
  contentType: string;
  chunks: { hash: string; size: number }[];
  mode: Mode;
  sessionId?: string;
}
export interface NewSession {
  ownerId: string;
  name: string;
  size: number;
  sha256: string;
  contentType: string;
  chunks: { hash: string; size: number }[];
  createdAt: Date;
  expiresAt: Date;
}

/** The catalog as the data path sees it. */
export interface CatalogRepository {
  /** Touch a known chunk (GC re-checks touched_at under the row lock); undefined when unknown. */
  touchChunk(ownerId: string, hash: string, now: Date): Promise<{ storedSize: number; compressed: boolean } | undefined>;
  touchChunks(ownerId: string, hashes: readonly string[], now: Date): Promise<void>;
  placements(ownerId: string, hash: string): Promise<Placement[]>;
  placementsOf(ownerId: string, hashes: readonly string[]): Promise<(Placement & { hash: string })[]>;
  /** Record a chunk with its present and pending copies, in one transaction. */
  recordChunk(c: { ownerId: string; hash: string; size: number; storedSize: number; compressed: boolean; holders: string[]; pending: string[] }, now: Date): Promise<void>;
  /** pending → present (a straggling write landed). */
  markPresent(ownerId: string, hash: string, region: string, now: Date): Promise<void>;
  /** present → missing (a bad copy joins the repair backlog). */
  markMissing(ownerId: string, hash: string, region: string, reason: string, now: Date): Promise<void>;
  /** Of `hashes`, those with at least `need` present copies. */
  hashesWithCopies(ownerId: string, hashes: readonly string[], need: number): Promise<Set<string>>;

  file(ownerId: string, fileId: string, state: 'live' | 'deleted' | 'any'): Promise<FileRow | undefined>;
  liveFileIdByName(ownerId: string, name: string): Promise<string | undefined>;
  version(fileId: string, version: number): Promise<VersionRow | undefined>;
  versions(fileId: string): Promise<VersionRow[]>;
  anyCompressed(ownerId: string, versionId: string): Promise<boolean>;
  compressedVersions(ownerId: string, versionIds: readonly string[]): Promise<Set<string>>;
  listFiles(ownerId: string, opts: { deleted?: boolean; limit?: number; after?: { name: string; id: string }; name?: string }): Promise<{ f: FileRow; v: VersionRow }[]>;
  /** Present copies per (version, region), and chunks with fewer than `quorum` present copies per version. */
  placementCounts(ownerId: string, versionIds: readonly string[], quorum: number): Promise<{ present: { versionId: string; region: string; n: number }[]; under: { versionId: string; n: number }[] }>;
  /** Chunks [from, from+limit) of a version with their placements. */
  manifestPage(ownerId: string, versionId: string, from: number, limit: number): Promise<ManifestRow[]>;
  /** Bytes counted against the quota: every kept version of every live file. */
  usedBytes(ownerId: string): Promise<number>;
  /** Bytes of a file's kept versions. */
  fileBytes(fileId: string): Promise<number>;
  /**
   * Commit a version in one transaction (the owner row locked, so quota and name checks cannot
   * race): `check` sees the live file of that name and the bytes used, and may throw to abort.
   */
  commitVersion(ownerId: string, v: NewVersion, now: Date, check: (existing: FileRow | undefined, usedBytes: number) => void): Promise<{ f: FileRow; v: VersionRow }>;
  softDelete(fileId: string, now: Date): Promise<void>;
  /** Undelete; rejects with the database's error on a name clash. */
  undelete(fileId: string, now: Date): Promise<void>;

  createSession(s: NewSession): Promise<SessionRow>;
  session(ownerId: string, uploadId: string): Promise<SessionRow | undefined>;
  expireSession(uploadId: string, now: Date): Promise<void>;
}

const BATCH = 1000;

export class DrizzleCatalogRepository implements CatalogRepository {
  constructor(readonly db: Db) {}

  async touchChunk(ownerId: string, hash: string, now: Date) {
    const [known] = await this.db
      .update(chunks)
      .set({ touchedAt: now })
      .where(and(eq(chunks.ownerId, ownerId), eq(chunks.hash, hash)))
      .returning({ storedSize: chunks.storedSize, compressed: chunks.compressed });
    return known;
  }

  async touchChunks(ownerId: string, hashes: readonly string[], now: Date): Promise<void> {
    for (let i = 0; i < hashes.length; i += BATCH) {
      await this.db.update(chunks).set({ touchedAt: now }).where(and(eq(chunks.ownerId, ownerId), inArray(chunks.hash, hashes.slice(i, i + BATCH))));
    }
  }

  placements(ownerId: string, hash: string): Promise<Placement[]> {
    return this.db
      .select({ region: chunkPlacements.region, state: chunkPlacements.state })
      .from(chunkPlacements)
      .where(and(eq(chunkPlacements.ownerId, ownerId), eq(chunkPlacements.hash, hash)));
  }

  async placementsOf(ownerId: string, hashes: readonly string[]) {
    if (hashes.length === 0) return [];
    return this.db
      .select({ hash: chunkPlacements.hash, region: chunkPlacements.region, state: chunkPlacements.state })
      .from(chunkPlacements)
      .where(and(eq(chunkPlacements.ownerId, ownerId), inArray(chunkPlacements.hash, [...hashes])));
  }

  async recordChunk(c: { ownerId: string; hash: string; size: number; storedSize: number; compressed: boolean; holders: string[]; pending: string[] }, now: Date): Promise<void> {
    const { ownerId, hash } = c;
    await this.db.transaction(async (tx) => {
      await tx
        .insert(chunks)
        .values({ ownerId, hash, size: c.size, storedSize: c.storedSize, compressed: c.compressed, createdAt: now, touchedAt: now })
        .onConflictDoUpdate({ target: [chunks.ownerId, chunks.hash], set: { touchedAt: now } });
      if (c.holders.length > 0) {
        await tx
          .insert(chunkPlacements)
          .values(c.holders.map((region) => ({ ownerId, hash, region, state: 'present' as const, updatedAt: now })))
          .onConflictDoUpdate({
            target: [chunkPlacements.ownerId, chunkPlacements.hash, chunkPlacements.region],
            set: { state: 'present', pendingSince: null, attempts: 0, nextAttemptAt: null, claimedBy: null, claimedUntil: null, lastError: null, updatedAt: now },
          });
      }
      if (c.pending.length > 0) {
        await tx
          .insert(chunkPlacements)
          .values(c.pending.map((region) => ({ ownerId, hash, region, state: 'pending' as const, pendingSince: now, nextAttemptAt: now, updatedAt: now })))
          .onConflictDoUpdate({
            target: [chunkPlacements.ownerId, chunkPlacements.hash, chunkPlacements.region],
            set: { state: 'pending', pendingSince: sql`coalesce(${chunkPlacements.pendingSince}, ${now.toISOString()}::timestamptz)`, updatedAt: now },
            setWhere: sql`${chunkPlacements.state} <> 'present'`,
          });
      }
    });
  }

  async markPresent(ownerId: string, hash: string, region: string, now: Date): Promise<void> {
    await this.db
      .update(chunkPlacements)
      .set({ state: 'present', pendingSince: null, attempts: 0, nextAttemptAt: null, claimedBy: null, claimedUntil: null, lastError: null, updatedAt: now })
      .where(and(eq(chunkPlacements.ownerId, ownerId), eq(chunkPlacements.hash, hash), eq(chunkPlacements.region, region), eq(chunkPlacements.state, 'pending')));
  }

  async markMissing(ownerId: string, hash: string, region: string, reason: string, now: Date): Promise<void> {
    await this.db
      .update(chunkPlacements)
      .set({ state: 'missing', pendingSince: now, nextAttemptAt: now, lastError: reason.slice(0, 500), updatedAt: now })
      .where(and(eq(chunkPlacements.ownerId, ownerId), eq(chunkPlacements.hash, hash), eq(chunkPlacements.region, region), eq(chunkPlacements.state, 'present')));
  }

  async hashesWithCopies(ownerId: string, hashes: readonly string[], need: number): Promise<Set<string>> {
    const have = new Set<string>();
    for (let i = 0; i < hashes.length; i += BATCH) {
      const rows = await this.db
        .select({ hash: chunkPlacements.hash })
        .from(chunkPlacements)
        .where(and(eq(chunkPlacements.ownerId, ownerId), eq(chunkPlacements.state, 'present'), inArray(chunkPlacements.hash, hashes.slice(i, i + BATCH))))
        .groupBy(chunkPlacements.hash)
        .having(sql`count(*) >= ${need}`);
      for (const r of rows) have.add(r.hash);
    }
    return have;
  }

  async file(ownerId: string, fileId: string, state: 'live' | 'deleted' | 'any'): Promise<FileRow | undefined> {
    const deleted = state === 'live' ? isNull(files.deletedAt) : state === 'deleted' ? isNotNull(files.deletedAt) : undefined;
    const [f] = await this.db.select().from(files).where(and(eq(files.id, fileId), eq(files.ownerId, ownerId), deleted));
    return f;
  }

  async liveFileIdByName(ownerId: string, name: string): Promise<string | undefined> {
    const [live] = await this.db.select({ id: files.id }).from(files).where(and(eq(files.ownerId, ownerId), eq(files.name, name), isNull(files.deletedAt)));
    return live?.id;
  }

  async version(fileId: string, version: number): Promise<VersionRow | undefined> {
    const [v] = await this.db
      .select()
      .from(fileVersions)
      .where(and(eq(fileVersions.fileId, fileId), eq(fileVersions.version, version), isNull(fileVersions.deletedAt)));
    return v;
  }

  versions(fileId: string): Promise<VersionRow[]> {
    return this.db
      .select()
      .from(fileVersions)
      .where(and(eq(fileVersions.fileId, fileId), isNull(fileVersions.deletedAt)))
      .orderBy(desc(fileVersions.version));
  }

  async anyCompressed(ownerId: string, versionId: string): Promise<boolean> {
    const rows = await queryRows<{ c: boolean }>(
      this.db,
      sql`select exists(select 1 from ${versionChunks} vc join ${chunks} c on c.owner_id = ${ownerId} and c.hash = vc.chunk_hash where vc.version_id = ${versionId} and c.compressed) as c`,
    );
    return rows[0]?.c === true;
  }

  async compressedVersions(ownerId: string, versionIds: readonly string[]): Promise<Set<string>> {
    if (versionIds.length === 0) return new Set();
    const rows = await queryRows<{ version_id: string }>(
      this.db,
      sql`select distinct vc.version_id from ${versionChunks} vc join ${chunks} c on c.owner_id = ${ownerId} and c.hash = vc.chunk_hash
          where c.compressed and vc.version_id in (${sql.join(versionIds.map((id) => sql`${id}::uuid`), sql`, `)})`,
    );
    return new Set(rows.map((r) => r.version_id));
  }

  async listFiles(ownerId: string, opts: { deleted?: boolean; limit?: number; after?: { name: string; id: string }; name?: string }) {
    const query = this.db
      .select({ f: files, v: fileVersions })
      .from(files)
      .innerJoin(fileVersions, and(eq(fileVersions.fileId, files.id), eq(fileVersions.version, files.currentVersion)))
      .where(
        and(
          eq(files.ownerId, ownerId),
          opts.deleted ? isNotNull(files.deletedAt) : isNull(files.deletedAt),
          opts.name === undefined ? undefined : eq(files.name, opts.name.normalize('NFC')),
          opts.after ? sql`(${files.name}, ${files.id}) > (${opts.after.name}, ${opts.after.id}::uuid)` : undefined,
        ),
      )
      .orderBy(asc(files.name), asc(files.id));
    return opts.limit === undefined ? await query : await query.limit(opts.limit);
  }

  async placementCounts(ownerId: string, versionIds: readonly string[], quorum: number) {
    if (versionIds.length === 0) return { present: [], under: [] };
    const ids = sql.join(versionIds.map((id) => sql`${id}::uuid`), sql`, `);
    const rows = await queryRows<{ version_id: string; region: string; n: number | string }>(
      this.db,
      sql`select vc.version_id, p.region, count(*) as n
          from ${versionChunks} vc
          join ${chunkPlacements} p on p.owner_id = ${ownerId} and p.hash = vc.chunk_hash and p.state = 'present'
          where vc.version_id in (${ids})
          group by vc.version_id, p.region`,
    );
    const under = await queryRows<{ version_id: string; n: number | string }>(
      this.db,
      sql`select vc.version_id, count(*) as n from ${versionChunks} vc
          where vc.version_id in (${ids})
            and (select count(*) from ${chunkPlacements} p where p.owner_id = ${ownerId} and p.hash = vc.chunk_hash and p.state = 'present') < ${quorum}
          group by vc.version_id`,
    );
    return {
      present: rows.map((r) => ({ versionId: r.version_id, region: r.region, n: Number(r.n) })),
      under: under.map((r) => ({ versionId: r.version_id, n: Number(r.n) })),
    };
  }

  async manifestPage(ownerId: string, versionId: string, from: number, limit: number): Promise<ManifestRow[]> {
    const vcs = await this.db
      .select({ idx: versionChunks.idx, hash: versionChunks.chunkHash, size: versionChunks.size, compressed: chunks.compressed })
      .from(versionChunks)
      .leftJoin(chunks, and(eq(chunks.ownerId, ownerId), eq(chunks.hash, versionChunks.chunkHash)))
      .where(and(eq(versionChunks.versionId, versionId), sql`${versionChunks.idx} >= ${from}`, sql`${versionChunks.idx} < ${from + limit}`))
      .orderBy(asc(versionChunks.idx));
    const pls = await this.placementsOf(ownerId, [...new Set(vcs.map((c) => c.hash))]);
    const byHash = new Map<string, Placement[]>();
    for (const p of pls) {
      const list = byHash.get(p.hash) ?? [];
      list.push({ region: p.region, state: p.state });
      byHash.set(p.hash, list);
    }
    return vcs.map((c) => ({ idx: c.idx, hash: c.hash, size: c.size, compressed: c.compressed ?? false, placements: byHash.get(c.hash) ?? [] }));
  }

  usedBytes(ownerId: string): Promise<number> {
    return usedBytes(this.db, ownerId);
  }

  async fileBytes(fileId: string): Promise<number> {
    const [own] = await queryRows<{ n: string | number | null }>(
      this.db,
      sql`select coalesce(sum(size), 0) as n from ${fileVersions} where file_id = ${fileId} and deleted_at is null`,
    );
    return Number(own?.n ?? 0);
  }

  commitVersion(ownerId: string, input: NewVersion, now: Date, check: (existing: FileRow | undefined, usedBytes: number) => void) {
    return this.db.transaction(async (tx) => {
      await tx.select({ id: users.id }).from(users).where(eq(users.id, ownerId)).for('update');
      if (input.sessionId) {
        const [s] = await tx.select({ committedAt: uploadSessions.committedAt }).from(uploadSessions).where(eq(uploadSessions.id, input.sessionId)).for('update');
        if (!s) throw new NotFound('No such upload session.', 'upload_not_found');
        if (s.committedAt) throw new Conflict('This upload session was already committed.', 'upload_committed');
      }
      const [existing] = await tx.select().from(files).where(and(eq(files.ownerId, ownerId), eq(files.name, input.name), isNull(files.deletedAt))).for('update');
      check(existing, await usedBytes(tx, ownerId));
      let file = existing;
      let version = 1;
      if (file) {
        const [mx] = await tx.select({ m: sql<number>`coalesce(max(${fileVersions.version}), 0)` }).from(fileVersions).where(eq(fileVersions.fileId, file.id));
        version = Number(mx?.m ?? 0) + 1;
      } else {
        [file] = await tx.insert(files).values({ ownerId, name: input.name, currentVersion: 1, createdAt: now, updatedAt: now }).returning();
      }
      if (!file) throw new Error('file row was not created');
      const [v] = await tx
        .insert(fileVersions)
        .values({ fileId: file.id, version, size: input.size, sha256: input.sha256, chunkCount: input.chunks.length, contentType: input.contentType, mode: input.mode, createdAt: now })
        .returning();
      if (!v) throw new Error('version row was not created');
      for (let i = 0; i < input.chunks.length; i += BATCH) {
        const batch = input.chunks.slice(i, i + BATCH);
        await tx.insert(versionChunks).values(batch.map((c, j) => ({ versionId: v.id, idx: i + j, chunkHash: c.hash, size: c.size })));
        await tx
          .update(chunks)
          .set({ touchedAt: now })
          .where(and(eq(chunks.ownerId, ownerId), inArray(chunks.hash, [...new Set(batch.map((c) => c.hash))])));
      }
      const [updated] = await tx.update(files).set({ currentVersion: version, updatedAt: now }).where(eq(files.id, file.id)).returning();
      if (input.sessionId) await tx.update(uploadSessions).set({ committedAt: now }).where(eq(uploadSessions.id, input.sessionId));
      return { f: updated ?? file, v };
    });
  }

  async softDelete(fileId: string, now: Date): Promise<void> {
    await this.db.update(files).set({ deletedAt: now }).where(and(eq(files.id, fileId), isNull(files.deletedAt)));
  }

  async undelete(fileId: string, now: Date): Promise<void> {
    await this.db.update(files).set({ deletedAt: null, updatedAt: now }).where(eq(files.id, fileId));
  }

  async createSession(s: NewSession): Promise<SessionRow> {
    const [row] = await this.db.insert(uploadSessions).values(s).returning();
    if (!row) throw new Error('upload session was not created');
    return row;
  }

  async session(ownerId: string, uploadId: string): Promise<SessionRow | undefined> {
    const [s] = await this.db.select().from(uploadSessions).where(and(eq(uploadSessions.id, uploadId), eq(uploadSessions.ownerId, ownerId)));
    return s;
  }

  async expireSession(uploadId: string, now: Date): Promise<void> {
    await this.db.update(uploadSessions).set({ expiresAt: now }).where(eq(uploadSessions.id, uploadId));
  }
}

async function usedBytes(tx: Tx | Db, ownerId: string): Promise<number> {
  const rows = await queryRows<{ n: string | number | null }>(
    tx,
    sql`select coalesce(sum(v.size), 0) as n from ${fileVersions} v join ${files} f on f.id = v.file_id
        where f.owner_id = ${ownerId} and f.deleted_at is null and v.deleted_at is null`,
  );
  return Number(rows[0]?.n ?? 0);
}
