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
import { queryRows, type Db } from './db.js';
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
  /**
   * Touch a known chunk (GC re-checks touched_at under the row lock) and read its placements, in
   * one statement; undefined when the chunk is unknown.
   */
  touchChunk(ownerId: string, hash: string, now: Date): Promise<{ storedSize: number; compressed: boolean; placements: Placement[] } | undefined>;
  touchChunks(ownerId: string, hashes: readonly string[], now: Date): Promise<void>;
  placements(ownerId: string, hash: string): Promise<Placement[]>;
  placementsOf(ownerId: string, hashes: readonly string[]): Promise<(Placement & { hash: string })[]>;
  /** Record a chunk with its present and pending copies, in one statement. */
  recordChunk(c: { ownerId: string; hash: string; size: number; storedSize: number; compressed: boolean; holders: string[]; pending: string[] }, now: Date): Promise<void>;
  /** pending → present (a straggling write landed). */
  markPresent(ownerId: string, hash: string, region: string, now: Date): Promise<void>;
  /** present → missing (a bad copy joins the repair backlog). */
  markMissing(ownerId: string, hash: string, region: string, reason: string, now: Date): Promise<void>;
  /** Of `hashes`, those stored by `before` (chunk row created then or earlier) with a present copy. */
  storedBefore(ownerId: string, hashes: readonly string[], before: Date): Promise<Set<string>>;
  /** Of `hashes`, those with at least `need` present copies. */
  hashesWithCopies(ownerId: string, hashes: readonly string[], need: number): Promise<Set<string>>;

  file(ownerId: string, fileId: string, state: 'live' | 'deleted' | 'any'): Promise<FileRow | undefined>;
  liveFileIdByName(ownerId: string, name: string): Promise<string | undefined>;
  version(fileId: string, version: number): Promise<VersionRow | undefined>;
  /** The owner's live file and one of its versions (the current one by default), in one statement. */
  fileVersion(ownerId: string, fileId: string, version?: number): Promise<{ f: FileRow; v: VersionRow | undefined; compressed: boolean } | undefined>;
  versions(fileId: string): Promise<VersionRow[]>;
  compressedVersions(ownerId: string, versionIds: readonly string[]): Promise<Set<string>>;
  listFiles(ownerId: string, opts: { deleted?: boolean; limit?: number; after?: { name: string; id: string }; name?: string }): Promise<{ f: FileRow; v: VersionRow }[]>;
  /** Present copies per (version, region), and chunks with fewer than `quorum` present copies per version. */
  placementCounts(ownerId: string, versionIds: readonly string[], quorum: number): Promise<{ present: { versionId: string; region: string; n: number }[]; under: { versionId: string; n: number }[] }>;
  /** Chunks [from, from+limit) of a version with their placements. */
  manifestPage(ownerId: string, versionId: string, from: number, limit: number): Promise<ManifestRow[]>;
  /** Bytes counted against the quota: every kept version of every live file (a running counter). */
  usedBytes(ownerId: string): Promise<number>;
  /** Bytes of a file's kept versions. */
  fileBytes(fileId: string): Promise<number>;
  /**
   * Commit a version in one transaction (the owner row locked, so quota and name checks cannot
   * race): `check` sees the live file of that name and the bytes used, and may throw to abort.
   */
  commitVersion(ownerId: string, v: NewVersion, now: Date, check: (existing: FileRow | undefined, usedBytes: number) => void): Promise<{ f: FileRow; v: VersionRow; compressed: boolean }>;
  softDelete(ownerId: string, fileId: string, now: Date): Promise<void>;
  /** Undelete; rejects with the database's error on a name clash. */
  undelete(ownerId: string, fileId: string, now: Date): Promise<void>;

  createSession(s: NewSession): Promise<SessionRow>;
  session(ownerId: string, uploadId: string): Promise<SessionRow | undefined>;
  expireSession(uploadId: string, now: Date): Promise<void>;
  /** The saved whole-file hash state of a session: chunks [0, next) are in it. */
  sessionHash(uploadId: string): Promise<{ next: number; state: string | null } | undefined>;
  /** Compare-and-set of the hash state: stored only if the session is still at `from`. */
  advanceSessionHash(uploadId: string, from: number, to: number, state: string): Promise<boolean>;
}

const BATCH = 1000;

export class DrizzleCatalogRepository implements CatalogRepository {
  constructor(readonly db: Db) {}

  async touchChunk(ownerId: string, hash: string, now: Date) {
    const rows = await queryRows<{ stored_size: number | string; compressed: boolean; region: string | null; state: PlacementState | null }>(
      this.db,
      sql`with t as (update ${chunks} set touched_at = ${now.toISOString()}::timestamptz where owner_id = ${ownerId} and hash = ${hash} returning stored_size, compressed)
          select t.stored_size, t.compressed, p.region, p.state from t
          left join ${chunkPlacements} p on p.owner_id = ${ownerId} and p.hash = ${hash}`,
    );
    const first = rows[0];
    if (!first) return undefined;
    return {
      storedSize: Number(first.stored_size),
      compressed: first.compressed === true,
      placements: rows.flatMap((r) => (r.region && r.state ? [{ region: r.region, state: r.state }] : [])),
    };
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
    const at = sql`${now.toISOString()}::timestamptz`;
    const rows = [
      ...c.holders.map((region) => sql`(${ownerId}::uuid, ${hash}, ${region}, 'present', null::timestamptz, null::timestamptz, ${at})`),
      ...c.pending.map((region) => sql`(${ownerId}::uuid, ${hash}, ${region}, 'pending', ${at}, ${at}, ${at})`),
    ];
    const chunk = sql`insert into ${chunks} (owner_id, hash, size, stored_size, compressed, created_at, touched_at)
      values (${ownerId}, ${hash}, ${c.size}, ${c.storedSize}, ${c.compressed}, ${at}, ${at})
      on conflict (owner_id, hash) do update set touched_at = excluded.touched_at`;
    if (rows.length === 0) {
      await this.db.execute(chunk);
      return;
    }
    // One statement (atomic without a transaction): the chunk row, then its copies. A present
    // copy always wins; a pending one never demotes a present row.
    await this.db.execute(sql`with c as (${chunk} returning 1)
      insert into ${chunkPlacements} (owner_id, hash, region, state, pending_since, next_attempt_at, updated_at)
      select * from (values ${sql.join(rows, sql`, `)}) as v(owner_id, hash, region, state, pending_since, next_attempt_at, updated_at)
      on conflict (owner_id, hash, region) do update set
        state = excluded.state,
        pending_since = case when excluded.state = 'present' then null else coalesce(${chunkPlacements.pendingSince}, excluded.pending_since) end,
        attempts = case when excluded.state = 'present' then 0 else ${chunkPlacements.attempts} end,
        next_attempt_at = case when excluded.state = 'present' then null else ${chunkPlacements.nextAttemptAt} end,
        claimed_by = case when excluded.state = 'present' then null else ${chunkPlacements.claimedBy} end,
        claimed_until = case when excluded.state = 'present' then null else ${chunkPlacements.claimedUntil} end,
        last_error = case when excluded.state = 'present' then null else ${chunkPlacements.lastError} end,
        updated_at = excluded.updated_at
      where excluded.state = 'present' or ${chunkPlacements.state} <> 'present'`);
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

  async storedBefore(ownerId: string, hashes: readonly string[], before: Date): Promise<Set<string>> {
    if (hashes.length === 0) return new Set();
    const rows = await this.db
      .select({ hash: chunks.hash })
      .from(chunks)
      .where(
        and(
          eq(chunks.ownerId, ownerId),
          inArray(chunks.hash, [...hashes]),
          sql`${chunks.createdAt} <= ${before.toISOString()}::timestamptz`,
          sql`exists (select 1 from ${chunkPlacements} p where p.owner_id = ${chunks.ownerId} and p.hash = ${chunks.hash} and p.state = 'present')`,
        ),
      );
    return new Set(rows.map((r) => r.hash));
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

  async fileVersion(ownerId: string, fileId: string, version?: number) {
    const [row] = await this.db
      .select({
        f: files,
        v: fileVersions,
        compressed: sql<boolean>`exists(select 1 from ${versionChunks} vc join ${chunks} c on c.owner_id = ${ownerId} and c.hash = vc.chunk_hash where vc.version_id = ${fileVersions.id} and c.compressed)`,
      })
      .from(files)
      .leftJoin(fileVersions, and(eq(fileVersions.fileId, files.id), eq(fileVersions.version, version === undefined ? files.currentVersion : sql`${version}`), isNull(fileVersions.deletedAt)))
      .where(and(eq(files.id, fileId), eq(files.ownerId, ownerId), isNull(files.deletedAt)));
    if (!row) return undefined;
    return { f: row.f, v: row.v ?? undefined, compressed: row.compressed === true };
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
    // One statement: the chunks with their placements as 'region:state' pairs (portable text, the
    // same on every driver, the Data API included).
    const rows = await queryRows<{ idx: number; hash: string; size: number; compressed: boolean | null; placements: string | null }>(
      this.db,
      sql`select vc.idx, vc.chunk_hash as hash, vc.size, c.compressed,
            (select string_agg(p.region || ':' || p.state, ',') from ${chunkPlacements} p where p.owner_id = ${ownerId} and p.hash = vc.chunk_hash) as placements
          from ${versionChunks} vc
          left join ${chunks} c on c.owner_id = ${ownerId} and c.hash = vc.chunk_hash
          where vc.version_id = ${versionId} and vc.idx >= ${from} and vc.idx < ${from + limit}
          order by vc.idx`,
    );
    return rows.map((r) => ({
      idx: Number(r.idx),
      hash: r.hash,
      size: Number(r.size),
      compressed: r.compressed === true,
      placements: (r.placements ?? '')
        .split(',')
        .filter((x) => x.length > 0)
        .map((x) => {
          const at = x.lastIndexOf(':');
          return { region: x.slice(0, at), state: x.slice(at + 1) as PlacementState };
        }),
    }));
  }

  async usedBytes(ownerId: string): Promise<number> {
    const [u] = await this.db.select({ n: users.usedBytes }).from(users).where(eq(users.id, ownerId));
    return Number(u?.n ?? 0);
  }

  async fileBytes(fileId: string): Promise<number> {
    const [own] = await queryRows<{ n: string | number | null }>(
      this.db,
      sql`select coalesce(sum(size), 0) as n from ${fileVersions} where file_id = ${fileId} and deleted_at is null`,
    );
    return Number(own?.n ?? 0);
  }

  /**
   * One transaction of three statements: lock the owner's row (which serialises the owner's
   * commits, deletes and restores, so the usage counter and the name checks cannot race), read the
   * live file of that name with its last version number and the session's state (a fresh snapshot
   * after the lock), then write everything in one statement: file, version, manifest, the chunks'
   * touch, the session's commit mark and the usage counter.
   */
  commitVersion(ownerId: string, input: NewVersion, now: Date, check: (existing: FileRow | undefined, usedBytes: number) => void) {
    return this.db.transaction(async (tx) => {
      const [u] = await tx.select({ used: users.usedBytes }).from(users).where(eq(users.id, ownerId)).for('update');
      if (!u) throw new NotFound('No such user.', 'user_not_found');
      const [state] = await queryRows<{ file_id: string | null; current_version: number | null; created_at: string | Date | null; max_version: number | string | null; session_found: boolean | null; session_committed: boolean | null }>(
        tx,
        sql`select f.id as file_id, f.current_version, f.created_at,
              (select max(v.version) from ${fileVersions} v where v.file_id = f.id) as max_version,
              ${input.sessionId ? sql`(select true from ${uploadSessions} s where s.id = ${input.sessionId})` : sql`null::boolean`} as session_found,
              ${input.sessionId ? sql`(select s.committed_at is not null from ${uploadSessions} s where s.id = ${input.sessionId})` : sql`null::boolean`} as session_committed
            from (select 1) one
            left join ${files} f on f.owner_id = ${ownerId} and f.name = ${input.name} and f.deleted_at is null`,
      );
      if (input.sessionId) {
        if (!state?.session_found) throw new NotFound('No such upload session.', 'upload_not_found');
        if (state.session_committed) throw new Conflict('This upload session was already committed.', 'upload_committed');
      }
      const existing: FileRow | undefined = state?.file_id
        ? { id: state.file_id, ownerId, name: input.name, currentVersion: Number(state.current_version), createdAt: new Date(state.created_at as string), updatedAt: now, deletedAt: null }
        : undefined;
      check(existing, Number(u.used));
      const version = existing ? Number(state?.max_version ?? 0) + 1 : 1;
      const at = sql`${now.toISOString()}::timestamptz`;
      const first = input.chunks.slice(0, BATCH);
      const list = (batch: { hash: string; size: number }[], offset: number) =>
        sql`(values ${sql.join(batch.map((c, j) => sql`(${offset + j}::int, ${c.hash}::text, ${c.size}::int)`), sql`, `)}) as x(idx, hash, size)`;
      const fileCte = existing
        ? sql`f as (update ${files} set current_version = ${version}, updated_at = ${at} where id = ${existing.id} returning id, created_at)`
        : sql`f as (insert into ${files} (owner_id, name, current_version, created_at, updated_at) values (${ownerId}, ${input.name}, 1, ${at}, ${at}) returning id, created_at)`;
      const [written] = await queryRows<{ file_id: string; file_created_at: string | Date; version_id: string; compressed: boolean | null }>(
        tx,
        sql`with ${fileCte},
            v as (insert into ${fileVersions} (file_id, version, size, sha256, chunk_count, content_type, mode, created_at)
                  select f.id, ${version}, ${input.size}, ${input.sha256}, ${input.chunks.length}, ${input.contentType}, ${input.mode}, ${at} from f returning id),
            ${first.length > 0 ? sql`vc as (insert into ${versionChunks} (version_id, idx, chunk_hash, size) select v.id, x.idx, x.hash, x.size from v, ${list(first, 0)} returning 1),
            t as (update ${chunks} set touched_at = ${at} where owner_id = ${ownerId} and hash in (select x.hash from ${list(first, 0)}) returning compressed),` : sql``}
            ${input.sessionId ? sql`s as (update ${uploadSessions} set committed_at = ${at} where id = ${input.sessionId} returning 1),` : sql``}
            u as (update ${users} set used_bytes = used_bytes + ${input.size} where id = ${ownerId} returning 1)
          select f.id as file_id, f.created_at as file_created_at, v.id as version_id,
            ${first.length > 0 ? sql`(select bool_or(compressed) from t)` : sql`false`} as compressed
          from f, v`,
      );
      if (!written) throw new Error('version row was not created');
      let compressed = written.compressed === true;
      // Manifests beyond the first batch: one more statement per batch of chunks.
      for (let i = BATCH; i < input.chunks.length; i += BATCH) {
        const batch = input.chunks.slice(i, i + BATCH);
        const [more] = await queryRows<{ compressed: boolean | null }>(
          tx,
          sql`with vc as (insert into ${versionChunks} (version_id, idx, chunk_hash, size) select ${written.version_id}::uuid, x.idx, x.hash, x.size from ${list(batch, i)} returning 1),
              t as (update ${chunks} set touched_at = ${at} where owner_id = ${ownerId} and hash in (select x.hash from ${list(batch, i)}) returning compressed)
            select bool_or(compressed) as compressed from t`,
        );
        compressed ||= more?.compressed === true;
      }
      const f: FileRow = { id: written.file_id, ownerId, name: input.name, currentVersion: version, createdAt: new Date(written.file_created_at), updatedAt: now, deletedAt: null };
      const v: VersionRow = {
        id: written.version_id,
        fileId: written.file_id,
        version,
        size: input.size,
        sha256: input.sha256,
        chunkCount: input.chunks.length,
        contentType: input.contentType,
        mode: input.mode,
        createdAt: now,
        deletedAt: null,
      };
      return { f, v, compressed };
    });
  }

  /** Soft delete in one statement: the file leaves the live set and its bytes leave the owner's usage. */
  async softDelete(ownerId: string, fileId: string, now: Date): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.select({ id: users.id }).from(users).where(eq(users.id, ownerId)).for('update');
      await tx.execute(sql`with f as (update ${files} set deleted_at = ${now.toISOString()}::timestamptz where id = ${fileId} and owner_id = ${ownerId} and deleted_at is null returning id)
        update ${users} set used_bytes = used_bytes - coalesce((select sum(v.size) from ${fileVersions} v where v.file_id in (select id from f) and v.deleted_at is null), 0)
        where id = ${ownerId} and exists (select 1 from f)`);
    });
  }

  async undelete(ownerId: string, fileId: string, now: Date): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.select({ id: users.id }).from(users).where(eq(users.id, ownerId)).for('update');
      await tx.execute(sql`with f as (update ${files} set deleted_at = null, updated_at = ${now.toISOString()}::timestamptz where id = ${fileId} and owner_id = ${ownerId} and deleted_at is not null returning id)
        update ${users} set used_bytes = used_bytes + coalesce((select sum(v.size) from ${fileVersions} v where v.file_id in (select id from f) and v.deleted_at is null), 0)
        where id = ${ownerId} and exists (select 1 from f)`);
    });
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

  async sessionHash(uploadId: string): Promise<{ next: number; state: string | null } | undefined> {
    const [s] = await this.db.select({ next: uploadSessions.hashNext, state: uploadSessions.hashState }).from(uploadSessions).where(eq(uploadSessions.id, uploadId));
    return s;
  }

  async advanceSessionHash(uploadId: string, from: number, to: number, state: string): Promise<boolean> {
    const rows = await this.db
      .update(uploadSessions)
      .set({ hashState: state, hashNext: to })
      .where(and(eq(uploadSessions.id, uploadId), eq(uploadSessions.hashNext, from), isNull(uploadSessions.committedAt)))
      .returning({ next: uploadSessions.hashNext });
    return rows.length > 0;
  }
}
