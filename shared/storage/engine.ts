/**
 * The storage engine facade (DESIGN §2): builds the data path's parts and hands each what it
 * needs; handlers call only this. The parts, one job each:
 *   context.ts         what they share: catalog, replicas, mode, health, clock, background work
 *   chunk-writer.ts    quorum writes of one chunk and where its copies live
 *   chunk-reader.ts    verified, hedged reads of one chunk; bad copies queued for repair
 *   files.ts           files and versions: one file, listing, versions, delete, restore
 *   commits.ts         commit with CAS and quota; the single-request streamed upload
 *   downloads.ts       streamed (ranged) reads and presigned manifests
 *   upload-sessions.ts resumable uploads in chunks
 *   file-edits.ts      restore an earlier version, rename, delete forever from the bin
 *   ../catalog/repository.ts  every SQL statement of the data path
 */
import type { Db } from '../catalog/db.js';
import type { Placement } from '../catalog/repository.js';
import { ChunkReader } from './chunk-reader.js';
import { ChunkWriter } from './chunk-writer.js';
import { Commits, type CommitInput } from './commits.js';
import { EngineContext, errMessage } from './context.js';
import { Downloads } from './downloads.js';
import { FileEdits } from './file-edits.js';
import { Files } from './files.js';
import type { HealthSink, ModeDecision, ModeSource, ObjectStore } from './ports.js';
import type {
  ChunkWriteResult,
  CreateSessionInput,
  EngineConfig,
  FileDetail,
  FileInfo,
  FileListItem,
  ManifestChunk,
  OpenedRead,
  PreparedRead,
  ReadOptions,
  SessionInfo,
  StorageEngineDeps,
  VersionInfo,
} from './types.js';
import { UploadSessions } from './upload-sessions.js';

export * from './types.js';
export { resolveRange } from './ranges.js';

export class StorageEngine {
  readonly db: Db;
  readonly stores: Map<string, ObjectStore>;
  readonly regions: string[];
  readonly config: EngineConfig;
  readonly modeSource: ModeSource;
  readonly health: HealthSink;
  private readonly ctx: EngineContext;
  private readonly writer: ChunkWriter;
  private readonly reader: ChunkReader;
  private readonly files: Files;
  private readonly commits: Commits;
  private readonly downloads: Downloads;
  private readonly sessions: UploadSessions;
  private readonly edits: FileEdits;

  constructor(deps: StorageEngineDeps) {
    const ctx = new EngineContext(deps);
    this.ctx = ctx;
    this.db = deps.db;
    this.stores = ctx.stores;
    this.regions = ctx.regions;
    this.config = ctx.config;
    this.modeSource = ctx.modeSource;
    this.health = ctx.health;
    this.writer = new ChunkWriter(ctx);
    this.reader = new ChunkReader(ctx);
    this.files = new Files(ctx);
    this.commits = new Commits(ctx, this.writer);
    this.downloads = new Downloads(ctx, this.files, this.reader);
    this.sessions = new UploadSessions(ctx, this.writer, this.reader, this.commits);
    this.edits = new FileEdits(ctx, deps.db, this.files, this.commits);
  }

  get quorum(): number {
    return this.ctx.quorum;
  }

  /** The mode of one object (by file name) for one owner. */
  decide(ownerId: string, name?: string): Promise<ModeDecision> {
    return this.ctx.decide(ownerId, name);
  }

  /** Set the hook called after writes that left a backlog (the replicator kick). */
  setBacklogHook(hook: (() => void) | undefined): void {
    this.ctx.onBacklog = hook;
  }

  /** Wait for background replica writes that outlived their request (tests, shutdown). */
  drain(): Promise<void> {
    return this.ctx.drain();
  }

  /** Run one operation, then store the replica health it observed (within the request). */
  private async flushed<T>(op: Promise<T>): Promise<T> {
    try {
      return await op;
    } finally {
      await this.ctx.flushHealth();
    }
  }

  // chunks
  writeChunk(ownerId: string, hash: string, plain: Buffer, decision: ModeDecision, redecide?: () => Promise<ModeDecision>): Promise<ChunkWriteResult> {
    return this.flushed(this.writer.writeChunk(ownerId, hash, plain, decision, redecide));
  }
  readChunk(ownerId: string, hash: string, placements: Placement[], hedge = false): Promise<Buffer> {
    return this.reader.readChunk(ownerId, hash, placements, hedge);
  }

  // files
  getFileInfo(ownerId: string, fileId: string, version?: number): Promise<FileInfo> {
    return this.files.getFileInfo(ownerId, fileId, version);
  }
  listFiles(ownerId: string, opts: { deleted?: boolean; limit?: number; after?: { name: string; id: string }; name?: string } = {}): Promise<FileListItem[]> {
    return this.files.listFiles(ownerId, opts);
  }
  listVersions(ownerId: string, fileId: string): Promise<VersionInfo[]> {
    return this.files.listVersions(ownerId, fileId);
  }
  getFile(ownerId: string, fileId: string): Promise<FileDetail> {
    return this.files.getFile(ownerId, fileId);
  }
  softDelete(ownerId: string, fileId: string): Promise<void> {
    return this.files.softDelete(ownerId, fileId);
  }
  restore(ownerId: string, fileId: string): Promise<FileInfo> {
    return this.files.restore(ownerId, fileId);
  }

  /** Make an earlier version current again, as a new version (history kept, quota applies). */
  restoreVersion(ownerId: string, fileId: string, version: number): Promise<FileInfo> {
    return this.edits.restoreVersion(ownerId, fileId, version);
  }
  renameFile(ownerId: string, fileId: string, name: string): Promise<FileInfo> {
    return this.edits.rename(ownerId, fileId, name);
  }
  /** Delete a file in the bin for good (its chunks age out through GC). */
  deleteForever(ownerId: string, fileId: string): Promise<void> {
    return this.edits.deleteForever(ownerId, fileId);
  }

  // downloads
  openRead(ownerId: string, fileId: string, opts: ReadOptions = {}): Promise<OpenedRead> {
    return this.flushed(this.downloads.openRead(ownerId, fileId, opts));
  }
  /** A version resolved once, to be opened later (the download route: checks, then the read). */
  async prepareRead(ownerId: string, fileId: string, version?: number): Promise<PreparedRead> {
    const prepared = await this.downloads.prepare(ownerId, fileId, version);
    return { file: prepared.file, etag: prepared.etag, open: (opts) => this.flushed(prepared.open(opts)) };
  }
  manifest(ownerId: string, fileId: string, version?: number): Promise<{ file: FileInfo; chunkSize: number; expiresInSeconds: number; chunks: ManifestChunk[] }> {
    return this.downloads.manifest(ownerId, fileId, version);
  }

  // commits
  commitVersion(ownerId: string, input: CommitInput): Promise<FileInfo> {
    return this.commits.commitVersion(ownerId, input);
  }
  uploadStream(ownerId: string, input: { name: string; contentType?: string; ifMatch?: number; declaredSize?: number }, source: AsyncIterable<Uint8Array>): Promise<FileInfo> {
    return this.flushed(this.commits.uploadStream(ownerId, input, source));
  }

  // upload sessions
  createSession(ownerId: string, input: CreateSessionInput): Promise<SessionInfo> {
    return this.sessions.createSession(ownerId, input);
  }
  getSession(ownerId: string, uploadId: string): Promise<SessionInfo> {
    return this.sessions.getSession(ownerId, uploadId);
  }
  putSessionChunk(ownerId: string, uploadId: string, hash: string, body: Buffer): Promise<ChunkWriteResult> {
    return this.flushed(this.sessions.putSessionChunk(ownerId, uploadId, hash, body));
  }
  commitSession(ownerId: string, uploadId: string, ifMatch?: number): Promise<FileInfo> {
    return this.flushed(this.sessions.commitSession(ownerId, uploadId, ifMatch));
  }
  abortSession(ownerId: string, uploadId: string): Promise<void> {
    return this.sessions.abortSession(ownerId, uploadId);
  }


  /** Reachability of every replica (for /health). */
  async replicaHealth(timeoutMs = 2000): Promise<Record<string, { ok: boolean; latencyMs: number; error?: string }>> {
    const out: Record<string, { ok: boolean; latencyMs: number; error?: string }> = {};
    await Promise.all(
      this.regions.map(async (region) => {
        const store = this.stores.get(region) as ObjectStore & { ping?: (s?: AbortSignal) => Promise<void> };
        const t0 = performance.now();
        try {
          const signal = AbortSignal.timeout(timeoutMs);
          if (store.ping) await store.ping(signal);
          else await store.exists('health/probe', signal);
          out[region] = { ok: true, latencyMs: Math.round(performance.now() - t0) };
        } catch (err) {
          out[region] = { ok: false, latencyMs: Math.round(performance.now() - t0), error: errMessage(err) };
        }
      }),
    );
    return out;
  }
}
