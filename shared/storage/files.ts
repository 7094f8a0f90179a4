/**
 * Files and their versions as the owner sees them: one file, its versions, the listing (with a
 * replica summary per file), soft delete and restore. Reads the catalog through the repository;
 * writes of new versions are in ./commits.ts.
 */
import { commitPoint } from '../deadline.js';
import { Conflict, NotFound } from '../errors.js';
import type { FileRow, VersionRow } from '../catalog/repository.js';
import { errMessage, type EngineContext } from './context.js';
import { checkQuota } from './limits.js';
import { PLACEMENT_DETAIL_LIMIT, type ChunkPlacementInfo, type FileDetail, type FileInfo, type FileListItem, type ReplicaSummary, type VersionInfo } from './types.js';

const UUID_RE = /^[0-9a-f-]{36}$/i;

/** The view of one version of a file. */
export function fileInfo(f: FileRow, v: VersionRow, compressed: boolean): FileInfo {
  return {
    fileId: f.id,
    name: f.name,
    size: Number(v.size),
    version: v.version,
    chunks: v.chunkCount,
    compressed,
    sha256: v.sha256,
    contentType: v.contentType,
    mode: v.mode,
    uploadedAt: v.createdAt,
    createdAt: f.createdAt,
    deletedAt: f.deletedAt,
  };
}

export class Files {
  constructor(private readonly ctx: EngineContext) {}

  /** The owner's file (live, or in the bin with `deleted`); 404 otherwise. */
  async liveFile(ownerId: string, fileId: string, opts: { deleted?: boolean } = {}): Promise<FileRow> {
    if (!UUID_RE.test(fileId)) throw new NotFound('No such file.', 'file_not_found');
    const f = await this.ctx.catalog.file(ownerId, fileId, opts.deleted ? 'deleted' : 'live');
    if (!f) throw new NotFound('No such file.', 'file_not_found');
    return f;
  }

  async versionRow(fileId: string, version: number): Promise<VersionRow> {
    const v = await this.ctx.catalog.version(fileId, version);
    if (!v) throw new NotFound(`Version ${version} of this file does not exist.`, 'version_not_found');
    return v;
  }

  /** The owner's live file and one of its versions (the current one by default), read once. */
  async fileVersion(ownerId: string, fileId: string, version?: number): Promise<{ f: FileRow; v: VersionRow; compressed: boolean }> {
    if (!UUID_RE.test(fileId)) throw new NotFound('No such file.', 'file_not_found');
    const row = await this.ctx.catalog.fileVersion(ownerId, fileId, version);
    if (!row) throw new NotFound('No such file.', 'file_not_found');
    if (!row.v) throw new NotFound(`Version ${version ?? row.f.currentVersion} of this file does not exist.`, 'version_not_found');
    return { f: row.f, v: row.v, compressed: row.compressed };
  }

  async getFileInfo(ownerId: string, fileId: string, version?: number): Promise<FileInfo> {
    const { f, v, compressed } = await this.fileVersion(ownerId, fileId, version);
    return fileInfo(f, v, compressed);
  }

  private async replicaSummaries(ownerId: string, versionIds: string[]): Promise<Map<string, ReplicaSummary>> {
    const out = new Map<string, ReplicaSummary>();
    if (versionIds.length === 0) return out;
    const counts = await this.ctx.catalog.placementCounts(ownerId, versionIds, this.ctx.quorum);
    for (const id of versionIds) out.set(id, { chunks: 0, present: Object.fromEntries(this.ctx.regions.map((r) => [r, 0])), complete: [], underReplicated: 0 });
    for (const r of counts.present) {
      const s = out.get(r.versionId);
      if (s) s.present[r.region] = r.n;
    }
    for (const r of counts.under) {
      const s = out.get(r.versionId);
      if (s) s.underReplicated = r.n;
    }
    return out;
  }

  private complete(s: ReplicaSummary, chunkCount: number): ReplicaSummary {
    s.chunks = chunkCount;
    s.complete = this.ctx.regions.filter((r) => (s.present[r] ?? 0) >= chunkCount);
    return s;
  }

  /**
   * The owner's files (or the bin) in name order, one page at a time: at most `limit` files after
   * the position `after` (the name and id of the previous page's last file), or only `name`.
   */
  async listFiles(ownerId: string, opts: { deleted?: boolean; limit?: number; after?: { name: string; id: string }; name?: string } = {}): Promise<FileListItem[]> {
    const rows = await this.ctx.catalog.listFiles(ownerId, opts);
    const ids = rows.map((r) => r.v.id);
    const summaries = await this.replicaSummaries(ownerId, ids);
    const compressed = await this.ctx.catalog.compressedVersions(ownerId, ids);
    return rows.map(({ f, v }) => ({ ...fileInfo(f, v, compressed.has(v.id)), replicas: this.complete(summaries.get(v.id) as ReplicaSummary, v.chunkCount) }));
  }

  async listVersions(ownerId: string, fileId: string): Promise<VersionInfo[]> {
    const f = await this.liveFile(ownerId, fileId);
    const rows = await this.ctx.catalog.versions(f.id);
    return rows.map((v) => ({
      version: v.version,
      size: Number(v.size),
      sha256: v.sha256,
      chunks: v.chunkCount,
      contentType: v.contentType,
      mode: v.mode,
      createdAt: v.createdAt,
      current: v.version === f.currentVersion,
    }));
  }

  async getFile(ownerId: string, fileId: string): Promise<FileDetail> {
    const f = await this.liveFile(ownerId, fileId);
    const v = await this.versionRow(f.id, f.currentVersion);
    const versions = await this.listVersions(ownerId, fileId);
    const page = await this.ctx.catalog.manifestPage(ownerId, v.id, 0, PLACEMENT_DETAIL_LIMIT);
    const placements: ChunkPlacementInfo[] = page.map((c) => ({
      index: c.idx,
      hash: c.hash,
      size: c.size,
      compressed: c.compressed,
      regions: Object.fromEntries(c.placements.map((p) => [p.region, p.state])),
    }));
    const summary = this.complete((await this.replicaSummaries(ownerId, [v.id])).get(v.id) as ReplicaSummary, v.chunkCount);
    return {
      ...fileInfo(f, v, placements.some((p) => p.compressed)),
      versions,
      placements,
      placementsTruncated: v.chunkCount > PLACEMENT_DETAIL_LIMIT,
      replicas: summary,
    };
  }

  async softDelete(ownerId: string, fileId: string): Promise<void> {
    const f = await this.liveFile(ownerId, fileId);
    await commitPoint(() => this.ctx.catalog.softDelete(ownerId, f.id, this.ctx.now()));
  }

  async restore(ownerId: string, fileId: string): Promise<FileInfo> {
    if (!UUID_RE.test(fileId)) throw new NotFound('No such file.', 'file_not_found');
    const f = await this.ctx.catalog.file(ownerId, fileId, 'any');
    if (!f) throw new NotFound('No such file.', 'file_not_found');
    if (!f.deletedAt) throw new Conflict('This file is not deleted; there is nothing to restore.', 'not_deleted');
    const taken = () => new Conflict(`A file named '${f.name}' exists now; rename or delete it, then restore.`, 'name_taken');
    if (await this.ctx.catalog.liveFileIdByName(ownerId, f.name)) throw taken();
    checkQuota(await this.ctx.catalog.usedBytes(ownerId), await this.ctx.catalog.fileBytes(f.id), this.ctx.config.quotaBytes);
    try {
      await this.ctx.catalog.undelete(ownerId, f.id, this.ctx.now());
    } catch (err) {
      if (/files_owner_name_live_key/.test(errMessage(err)) || /unique/i.test(errMessage(err))) throw taken();
      throw err;
    }
    return this.getFileInfo(ownerId, f.id);
  }
}
