/**
 * Files and their versions as the data path reads them: a file by id or live name, a version or
 * all kept versions, the listing (paged by name), and each version's manifest (its chunks with
 * their placements, and the per-region counts behind a file's replication status). Writes that
 * change what an owner stores (commit, delete, restore) are in ./usage-repository.ts, under the
 * owner's row lock.
 */
import { and, asc, desc, eq, isNotNull, isNull, sql } from 'drizzle-orm';
import { prepared, queryRows, type Db } from './db.js';
import type { Placement } from './chunk-repository.js';
import { chunkPlacements, chunks, files, fileVersions, versionChunks, type PlacementState } from './schema.js';

export type FileRow = typeof files.$inferSelect;
export type VersionRow = typeof fileVersions.$inferSelect;
export interface ManifestRow {
  idx: number;
  hash: string;
  size: number;
  compressed: boolean;
  placements: Placement[];
}

/** The catalog's files, versions and manifests, as the data path reads them. */
export interface FileRepository {
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
}

export class DrizzleFileRepository implements FileRepository {
  constructor(readonly db: Db) {}

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
      // Every download reads its manifest by it (one shape): prepared once per connection.
      prepared(sql`select vc.idx, vc.chunk_hash as hash, vc.size, c.compressed,
            (select string_agg(p.region || ':' || p.state, ',') from ${chunkPlacements} p where p.owner_id = ${ownerId} and p.hash = vc.chunk_hash) as placements
          from ${versionChunks} vc
          left join ${chunks} c on c.owner_id = ${ownerId} and c.hash = vc.chunk_hash
          where vc.version_id = ${versionId} and vc.idx >= ${from} and vc.idx < ${from + limit}
          order by vc.idx`),
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
}
