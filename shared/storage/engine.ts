/**
 * The storage engine: chunked, replicated, verified files across region replicas (DESIGN §2).
 * Free of Lambda types; its ports come by injection: the catalog, one ObjectStore per region, a
 * ModeSource (how many acks a write needs) and a HealthSink (which replica to read from).
 */
import { createHash, type Hash } from 'node:crypto';
import { Readable } from 'node:stream';
import { and, asc, desc, eq, inArray, isNotNull, isNull, sql } from 'drizzle-orm';
import type { Config, Mode } from '../config.js';
import { BadRequest, Conflict, NotFound, PayloadTooLarge, PreconditionFailed, RangeNotSatisfiable, Unavailable } from '../errors.js';
import { logger, metrics, MetricUnit } from '../observability.js';
import type { Db, Tx } from '../catalog/db.js';
import { queryRows } from '../catalog/db.js';
import { chunkPlacements, chunks, files, fileVersions, uploadSessions, users, versionChunks, type PlacementState } from '../catalog/schema.js';
import { awaitAcks, majority, type Attempt } from './acks.js';
import { CHUNK_SIZE, CorruptChunk, HASH_RE, chunkStream, decodeChunk, encodeChunk, sha256Hex } from './codec.js';
import { InMemoryHealth } from './health.js';
import { checkFileSize, checkQuota, validateName } from './limits.js';
import { chunkKey, fixedMode, type HealthSink, type ModeDecision, type ModeSource, type ObjectStore } from './ports.js';
import { recordWriteLatency } from '../controller/metrics.js';

export type EngineConfig = Pick<Config, 'mode' | 'maxFileBytes' | 'quotaBytes' | 'uploadTtlSeconds' | 'replicaTimeoutMs'>;

export interface HybridDeadline {
  /** Deadline = factor × the slowest observed replica latency, clamped to [minMs, maxMs]. */
  factor: number;
  minMs: number;
  maxMs: number;
}

export interface StorageEngineDeps {
  db: Db;
  /** region -> replica, in a stable order (config.regions). */
  stores: Map<string, ObjectStore>;
  config: EngineConfig;
  modeSource?: ModeSource;
  health?: HealthSink;
  clock?: () => Date;
  /** Called after a write left pending placements (kicks the replicator). */
  onBacklog?: () => void;
  hybridDeadline?: Partial<HybridDeadline>;
  /** Parallel chunk writes of one streamed upload (default 4). */
  uploadConcurrency?: number;
  /** How long a presigned chunk URL stays valid (default 900 s). */
  presignSeconds?: number;
}

export interface ChunkRef {
  hash: string;
  size: number;
}

export interface ChunkWriteResult {
  hash: string;
  size: number;
  storedSize: number;
  compressed: boolean;
  /** True when the chunk was already held by enough replicas and nothing was written. */
  deduped: boolean;
  /** Regions holding the chunk when the write was acknowledged. */
  acked: string[];
  /** Regions left pending (the backlog). */
  pending: string[];
  mode: Mode;
  degraded: boolean;
}

export interface FileInfo {
  fileId: string;
  name: string;
  size: number;
  version: number;
  chunks: number;
  compressed: boolean;
  sha256: string;
  contentType: string;
  mode: Mode;
  uploadedAt: Date;
  createdAt: Date;
  deletedAt: Date | null;
}

export interface VersionInfo {
  version: number;
  size: number;
  sha256: string;
  chunks: number;
  contentType: string;
  mode: Mode;
  createdAt: Date;
  current: boolean;
}

export interface ReplicaSummary {
  /** Chunks of the current version. */
  chunks: number;
  /** region -> chunks present there */
  present: Record<string, number>;
  /** Regions holding every chunk. */
  complete: string[];
  /** Chunks with fewer than Q present copies. */
  underReplicated: number;
}

export interface FileListItem extends FileInfo {
  replicas: ReplicaSummary;
}

export interface ChunkPlacementInfo {
  index: number;
  hash: string;
  size: number;
  compressed: boolean;
  regions: Record<string, PlacementState>;
}

export interface FileDetail extends FileInfo {
  versions: VersionInfo[];
  placements: ChunkPlacementInfo[];
  /** True when the placement list was cut (very large files). */
  placementsTruncated: boolean;
  replicas: ReplicaSummary;
}

export interface ReadOptions {
  version?: number;
  /** Inclusive byte range, already resolved against the size (see resolveRange). */
  range?: { start: number; end: number };
}

export interface OpenedRead {
  file: FileInfo;
  etag: string;
  /** Bytes the stream will produce. */
  length: number;
  range?: { start: number; end: number };
  stream: Readable;
}

export interface ManifestChunk {
  index: number;
  hash: string;
  size: number;
  offset: number;
  compressed: boolean;
  region: string | null;
  url: string | null;
}

export interface SessionInfo {
  uploadId: string;
  name: string;
  size: number;
  sha256: string;
  chunks: number;
  missing: string[];
  expiresAt: Date;
  committed: boolean;
  chunkSize: number;
}

export interface CreateSessionInput {
  name: string;
  size: number;
  sha256: string;
  contentType?: string;
  chunks: ChunkRef[];
}

const PAGE = 256;
const PLACEMENT_DETAIL_LIMIT = 2000;

function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Resolve an HTTP Range header against a size; undefined = whole body. Throws 416 when unsatisfiable. */
export function resolveRange(header: string | undefined, size: number): { start: number; end: number } | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  // Multi-range and malformed headers are ignored (whole body), as RFC 9110 allows.
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) throw new RangeNotSatisfiable(size);
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) throw new RangeNotSatisfiable(size);
  return { start, end };
}

/** Checks a declared chunk list: all chunks 1 MiB except a non-empty last, sizes summing to `size`. */
export function checkChunkList(size: number, list: readonly ChunkRef[]): void {
  const expected = Math.ceil(size / CHUNK_SIZE);
  if (list.length !== expected) {
    throw new BadRequest(`A file of ${size} bytes has ${expected} chunks of ${CHUNK_SIZE} bytes (the last may be shorter); ${list.length} were declared.`, 'invalid_chunks');
  }
  list.forEach((c, i) => {
    if (!HASH_RE.test(c.hash)) throw new BadRequest(`Chunk ${i}: hash must be 64 lower-case hex characters (SHA-256 of the chunk).`, 'invalid_chunks');
    const want = i < list.length - 1 ? CHUNK_SIZE : size - CHUNK_SIZE * (list.length - 1);
    if (c.size !== want) throw new BadRequest(`Chunk ${i}: size must be ${want} bytes (chunks are ${CHUNK_SIZE} bytes, the last one holds the rest).`, 'invalid_chunks');
  });
}

const MODE_STRENGTH: Record<Mode, number> = { C: 2, H: 1, A: 0 };

export class StorageEngine {
  readonly db: Db;
  readonly stores: Map<string, ObjectStore>;
  readonly regions: string[];
  readonly config: EngineConfig;
  readonly modeSource: ModeSource;
  readonly health: HealthSink;
  private readonly clock: () => Date;
  private onBacklog?: () => void;
  private readonly hybrid: HybridDeadline;
  private readonly uploadConcurrency: number;
  private readonly presignSeconds: number;
  private readonly background = new Set<Promise<unknown>>();
  /** In-order running hash of sessions, so commit rarely needs to read chunks back. */
  private readonly sessionHashes = new Map<string, { hash: Hash; next: number }>();

  constructor(deps: StorageEngineDeps) {
    this.db = deps.db;
    this.stores = deps.stores;
    this.regions = [...deps.stores.keys()];
    if (this.regions.length === 0) throw new Error('the storage engine needs at least one replica');
    this.config = deps.config;
    this.modeSource = deps.modeSource ?? fixedMode(deps.config.mode);
    this.health = deps.health ?? new InMemoryHealth();
    this.clock = deps.clock ?? (() => new Date());
    this.onBacklog = deps.onBacklog;
    this.hybrid = { factor: 3, minMs: 50, maxMs: 1000, ...(deps.hybridDeadline ?? {}) };
    this.uploadConcurrency = deps.uploadConcurrency ?? 4;
    this.presignSeconds = deps.presignSeconds ?? 900;
  }

  get quorum(): number {
    return majority(this.regions.length);
  }

  /** The mode of one object (by file name) for one owner. */
  decide(ownerId: string, name?: string): Promise<ModeDecision> {
    return this.modeSource.modeFor(name, ownerId);
  }

  /** Set the hook called after writes that left a backlog (the replicator kick). */
  setBacklogHook(hook: (() => void) | undefined): void {
    this.onBacklog = hook;
  }

  /** Wait for background replica writes that outlived their request (tests, shutdown). */
  async drain(): Promise<void> {
    while (this.background.size > 0) await Promise.allSettled([...this.background]);
  }

  private track(p: Promise<unknown>): void {
    const q = p.catch((err: unknown) => logger.warn('background storage task failed', { error: errMessage(err) })).finally(() => this.background.delete(q));
    this.background.add(q);
  }

  private hybridDeadlineMs(): number {
    let worst = 0;
    for (const r of this.regions) worst = Math.max(worst, this.health.latency?.(r) ?? 0);
    return Math.min(this.hybrid.maxMs, Math.max(this.hybrid.minMs, worst * this.hybrid.factor));
  }

  /** Run one replica call and report its outcome to the health sink (not when we cancelled it ourselves). */
  private async timed<T>(region: string, op: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const t0 = performance.now();
    try {
      const v = await op();
      this.health.observe(region, { ok: true, latencyMs: performance.now() - t0 });
      return v;
    } catch (err) {
      if (!signal?.aborted) this.health.observe(region, { ok: false, latencyMs: performance.now() - t0, error: errMessage(err) });
      throw err;
    }
  }

  // ---------------------------------------------------------------- chunk writes

  /**
   * Store one chunk on the replicas and record where it lives. Acknowledged by `decision.mode`;
   * strong writes that cannot reach a majority fail with 503 and are not acknowledged.
   */
  async writeChunk(ownerId: string, hash: string, plain: Buffer, decision: ModeDecision, redecide?: () => Promise<ModeDecision>): Promise<ChunkWriteResult> {
    if (plain.length > CHUNK_SIZE) throw new PayloadTooLarge(`A chunk holds at most ${CHUNK_SIZE} bytes; this one has ${plain.length}.`, 'chunk_too_large');
    const actual = sha256Hex(plain);
    if (actual !== hash) throw new BadRequest(`Chunk content hashes to ${actual}, not ${hash}: nothing was stored. Resend the chunk.`, 'hash_mismatch');
    const mode = decision.mode;
    const q = this.quorum;

    // Touch the chunk row first (if the chunk is known): garbage collection re-checks touched_at
    // under the row lock, so it never deletes copies this write is about to rely on. Only a known
    // chunk has placements worth reading.
    const [known] = await this.db
      .update(chunks)
      .set({ touchedAt: this.clock() })
      .where(and(eq(chunks.ownerId, ownerId), eq(chunks.hash, hash)))
      .returning({ storedSize: chunks.storedSize, compressed: chunks.compressed });
    const existing = known
      ? await this.db
          .select({ region: chunkPlacements.region, state: chunkPlacements.state })
          .from(chunkPlacements)
          .where(and(eq(chunkPlacements.ownerId, ownerId), eq(chunkPlacements.hash, hash)))
      : [];
    const present = existing.filter((p) => p.state === 'present' && this.stores.has(p.region)).map((p) => p.region);
    if (known && (present.length >= q || (mode === 'A' && present.length >= 1))) {
      metrics.addMetric('ChunkDeduped', MetricUnit.Count, 1);
      return { hash, size: plain.length, storedSize: known.storedSize, compressed: known.compressed, deduped: true, acked: present, pending: this.regions.filter((r) => !present.includes(r)), mode, degraded: present.length < q };
    }

    const enc = await encodeChunk(plain, hash);
    const key = chunkKey(ownerId, hash);
    const targets = this.regions.filter((r) => !present.includes(r));
    const writeStarted = performance.now();
    const attempts: Attempt[] = targets.map((region) => ({
      region,
      done: this.timed(region, () => (this.stores.get(region) as ObjectStore).put(key, enc.stored)),
    }));
    const outcome = await awaitAcks(attempts, { mode, replicas: this.regions.length, alreadyPresent: present.length, hybridDeadlineMs: this.hybridDeadlineMs() });
    const holders = [...present, ...outcome.acked];
    const pending = this.regions.filter((r) => !holders.includes(r));

    // Record every copy that landed or may still land, so nothing in a bucket escapes the catalog
    // (unreferenced chunks are collected after the grace period).
    if (holders.length > present.length || outcome.satisfied || outcome.inFlight.length > 0) {
      await this.recordChunk(ownerId, enc.hash, enc.size, enc.stored.length, enc.compressed, holders, pending);
    }
    // Writes still running become present when they land; until then their rows stay pending.
    for (const a of attempts) {
      if (!outcome.inFlight.includes(a.region)) continue;
      // A straggler that fails stays pending for the replicator; its failure was already observed.
      this.track(a.done.then(() => this.markPresent(ownerId, hash, a.region), () => undefined));
    }
    // A write waiting for its quorum may outlive the mode it started under: when a majority became
    // unreachable meanwhile, the controller has moved to available (emergency). The write is then
    // acknowledged under the mode in force when it completes, with the copy it has; a critical key
    // or an override still resolves to strong, and the write fails.
    let ackMode = mode;
    let satisfied = outcome.satisfied;
    if (!satisfied && mode !== 'A' && holders.length >= 1 && redecide) {
      const now = await redecide().catch(() => undefined);
      if (now?.mode === 'A') {
        ackMode = 'A';
        satisfied = true;
        metrics.addMetric('ChunkWriteRedecided', MetricUnit.Count, 1);
      }
    }
    if (!satisfied) {
      metrics.addMetric('ChunkWriteRejected', MetricUnit.Count, 1);
      const why = Object.entries(outcome.failed).map(([r, e]) => `${r}: ${e}`).join('; ');
      throw new Unavailable(
        mode === 'C'
          ? `Strong write needs ${q} of ${this.regions.length} replicas and only ${holders.length} acknowledged; nothing was committed. Retry later. (${why})`
          : `No replica acknowledged the write; nothing was committed. Retry later. (${why})`,
        5,
        'replicas_unavailable',
        { mode, acked: holders, needed: mode === 'C' ? q : 1 },
      );
    }
    this.health.recordWrite?.(plain.length);
    recordWriteLatency(ackMode, performance.now() - writeStarted);
    metrics.addMetric('ChunkWritten', MetricUnit.Count, 1);
    if (outcome.degraded || ackMode !== mode) metrics.addMetric('ChunkWriteDegraded', MetricUnit.Count, 1);
    if (pending.length > 0) this.kick();
    return { hash, size: enc.size, storedSize: enc.stored.length, compressed: enc.compressed, deduped: false, acked: holders, pending, mode: ackMode, degraded: holders.length < q };
  }

  private kick(): void {
    try {
      this.onBacklog?.();
    } catch (err) {
      logger.warn('backlog hook failed', { error: errMessage(err) });
    }
  }

  private async recordChunk(ownerId: string, hash: string, size: number, storedSize: number, compressed: boolean, holders: string[], pending: string[]): Promise<void> {
    const now = this.clock();
    await this.db.transaction(async (tx) => {
      await tx
        .insert(chunks)
        .values({ ownerId, hash, size, storedSize, compressed, createdAt: now, touchedAt: now })
        .onConflictDoUpdate({ target: [chunks.ownerId, chunks.hash], set: { touchedAt: now } });
      if (holders.length > 0) {
        await tx
          .insert(chunkPlacements)
          .values(holders.map((region) => ({ ownerId, hash, region, state: 'present' as const, updatedAt: now })))
          .onConflictDoUpdate({
            target: [chunkPlacements.ownerId, chunkPlacements.hash, chunkPlacements.region],
            set: { state: 'present', pendingSince: null, attempts: 0, nextAttemptAt: null, claimedBy: null, claimedUntil: null, lastError: null, updatedAt: now },
          });
      }
      if (pending.length > 0) {
        await tx
          .insert(chunkPlacements)
          .values(pending.map((region) => ({ ownerId, hash, region, state: 'pending' as const, pendingSince: now, nextAttemptAt: now, updatedAt: now })))
          .onConflictDoUpdate({
            target: [chunkPlacements.ownerId, chunkPlacements.hash, chunkPlacements.region],
            set: { state: 'pending', pendingSince: sql`coalesce(${chunkPlacements.pendingSince}, ${now.toISOString()}::timestamptz)`, updatedAt: now },
            setWhere: sql`${chunkPlacements.state} <> 'present'`,
          });
      }
    });
  }

  /**
   * A straggling write landed: pending → present. A copy a read has meanwhile found bad
   * ('missing') stays queued: the replicator re-copies and verifies it.
   */
  private async markPresent(ownerId: string, hash: string, region: string): Promise<void> {
    await this.db
      .update(chunkPlacements)
      .set({ state: 'present', pendingSince: null, attempts: 0, nextAttemptAt: null, claimedBy: null, claimedUntil: null, lastError: null, updatedAt: this.clock() })
      .where(and(eq(chunkPlacements.ownerId, ownerId), eq(chunkPlacements.hash, hash), eq(chunkPlacements.region, region), eq(chunkPlacements.state, 'pending')));
  }

  /** Mark a copy bad (missing or corrupt): it joins the repair backlog. */
  private async markMissing(ownerId: string, hash: string, region: string, reason: string): Promise<void> {
    const now = this.clock();
    await this.db
      .update(chunkPlacements)
      .set({ state: 'missing', pendingSince: now, nextAttemptAt: now, lastError: reason.slice(0, 500), updatedAt: now })
      .where(and(eq(chunkPlacements.ownerId, ownerId), eq(chunkPlacements.hash, hash), eq(chunkPlacements.region, region), eq(chunkPlacements.state, 'present')));
    metrics.addMetric('ChunkCopyBad', MetricUnit.Count, 1);
    logger.warn('bad chunk copy queued for repair', { region, hash, reason });
    this.kick();
  }

  // ---------------------------------------------------------------- chunk reads

  /** Holders of a chunk in read order: healthy present copies best first, then the rest, then pending ones. */
  private readOrder(placements: { region: string; state: PlacementState }[]): { region: string; present: boolean }[] {
    const present = placements.filter((p) => p.state === 'present' && this.stores.has(p.region)).map((p) => p.region);
    const ranked = this.health.ranked(present);
    const rest = present.filter((r) => !ranked.includes(r));
    const pending = placements.filter((p) => p.state === 'pending' && this.stores.has(p.region)).map((p) => p.region);
    return [...ranked.map((region) => ({ region, present: true })), ...rest.map((region) => ({ region, present: true })), ...pending.map((region) => ({ region, present: false }))];
  }

  private async fetchFrom(ownerId: string, hash: string, region: string, present: boolean, signal?: AbortSignal): Promise<Buffer> {
    const store = this.stores.get(region) as ObjectStore;
    const stored = await this.timed(region, () => store.get(chunkKey(ownerId, hash), signal), signal);
    if (stored === undefined) {
      if (present) await this.markMissing(ownerId, hash, region, 'object not found on read');
      throw new CorruptChunk(hash, `missing in ${region}`);
    }
    try {
      return await decodeChunk(stored, hash);
    } catch (err) {
      if (present && err instanceof CorruptChunk) await this.markMissing(ownerId, hash, region, err.message);
      throw err;
    }
  }

  /**
   * Fetch and verify one chunk from the best holder. Without hedging, holders are tried one after
   * another. With hedging, the next holder is also asked whenever the ones in flight have been
   * silent for the hedge delay (or have failed): the first verified copy wins, so a black-holed
   * replica costs a read at most the hedge delay, not a timeout. The slower requests are left to
   * finish in the background (bounded by the replica timeout): their outcome still feeds the
   * health picture, and a bad copy they find is still queued for repair.
   */
  async readChunk(ownerId: string, hash: string, placements: { region: string; state: PlacementState }[], hedge = false): Promise<Buffer> {
    const order = this.readOrder(placements);
    if (order.length === 0) throw new Unavailable(`Chunk ${hash.slice(0, 12)}… has no replica holding it. Retry later.`, 5, 'chunk_unavailable');
    if (!hedge) {
      const errors: string[] = [];
      for (const h of order) {
        try {
          return await this.fetchFrom(ownerId, hash, h.region, h.present);
        } catch (err) {
          errors.push(`${h.region}: ${errMessage(err)}`);
        }
      }
      throw new Unavailable(`Chunk ${hash.slice(0, 12)}… could not be read from any replica (${errors.join('; ')}). Retry later.`, 5, 'chunk_unavailable');
    }
    return this.hedged(ownerId, hash, order);
  }

  private hedged(ownerId: string, hash: string, order: { region: string; present: boolean }[]): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      const errors: string[] = [];
      let next = 0;
      let inFlight = 0;
      let done = false;
      let timer: NodeJS.Timeout | undefined;
      const launch = () => {
        clearTimeout(timer);
        if (done || next >= order.length) return;
        const h = order[next] as { region: string; present: boolean };
        if (next > 0) metrics.addMetric('ReadHedged', MetricUnit.Count, 1);
        next += 1;
        inFlight += 1;
        const fetched = this.fetchFrom(ownerId, hash, h.region, h.present);
        this.track(fetched.then(() => undefined, () => undefined));
        fetched.then(
          (buf) => {
            if (done) return;
            done = true;
            clearTimeout(timer);
            resolve(buf);
          },
          (err: unknown) => {
            inFlight -= 1;
            if (done) return;
            errors.push(`${h.region}: ${errMessage(err)}`);
            if (next < order.length) launch();
            else if (inFlight === 0) {
              done = true;
              reject(new Unavailable(`Chunk ${hash.slice(0, 12)}… could not be read from any replica (${errors.join('; ')}). Retry later.`, 5, 'chunk_unavailable'));
            }
          },
        );
        // Hedge only when the holder is slower than it usually is: 3x its observed latency, at
        // least 50 ms (no duplicate GETs under normal jitter), at most 500 ms.
        if (next < order.length) {
          const delay = Math.min(500, Math.max(50, 3 * (this.health.latency?.(h.region) ?? 25)));
          timer = setTimeout(launch, delay);
          timer.unref?.();
        }
      };
      launch();
    });
  }

  // ---------------------------------------------------------------- catalog reads

  private async liveFile(ownerId: string, fileId: string, opts: { deleted?: boolean } = {}) {
    if (!/^[0-9a-f-]{36}$/i.test(fileId)) throw new NotFound('No such file.', 'file_not_found');
    const [f] = await this.db
      .select()
      .from(files)
      .where(and(eq(files.id, fileId), eq(files.ownerId, ownerId), opts.deleted ? isNotNull(files.deletedAt) : isNull(files.deletedAt)));
    if (!f) throw new NotFound('No such file.', 'file_not_found');
    return f;
  }

  private async versionRow(fileId: string, version: number) {
    const [v] = await this.db
      .select()
      .from(fileVersions)
      .where(and(eq(fileVersions.fileId, fileId), eq(fileVersions.version, version), isNull(fileVersions.deletedAt)));
    if (!v) throw new NotFound(`Version ${version} of this file does not exist.`, 'version_not_found');
    return v;
  }

  private async anyCompressed(versionId: string, ownerId: string): Promise<boolean> {
    const rows = await queryRows<{ c: boolean }>(
      this.db,
      sql`select exists(select 1 from ${versionChunks} vc join ${chunks} c on c.owner_id = ${ownerId} and c.hash = vc.chunk_hash where vc.version_id = ${versionId} and c.compressed) as c`,
    );
    return rows[0]?.c === true;
  }

  private info(f: typeof files.$inferSelect, v: typeof fileVersions.$inferSelect, compressed: boolean): FileInfo {
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

  async getFileInfo(ownerId: string, fileId: string, version?: number): Promise<FileInfo> {
    const f = await this.liveFile(ownerId, fileId);
    const v = await this.versionRow(f.id, version ?? f.currentVersion);
    return this.info(f, v, await this.anyCompressed(v.id, ownerId));
  }

  private async replicaSummaries(ownerId: string, versionIds: string[]): Promise<Map<string, ReplicaSummary>> {
    const out = new Map<string, ReplicaSummary>();
    if (versionIds.length === 0) return out;
    const rows = await queryRows<{ version_id: string; region: string; n: number | string }>(
      this.db,
      sql`select vc.version_id, p.region, count(*) as n
          from ${versionChunks} vc
          join ${chunkPlacements} p on p.owner_id = ${ownerId} and p.hash = vc.chunk_hash and p.state = 'present'
          where vc.version_id in (${sql.join(versionIds.map((id) => sql`${id}::uuid`), sql`, `)})
          group by vc.version_id, p.region`,
    );
    const under = await queryRows<{ version_id: string; n: number | string }>(
      this.db,
      sql`select vc.version_id, count(*) as n from ${versionChunks} vc
          where vc.version_id in (${sql.join(versionIds.map((id) => sql`${id}::uuid`), sql`, `)})
            and (select count(*) from ${chunkPlacements} p where p.owner_id = ${ownerId} and p.hash = vc.chunk_hash and p.state = 'present') < ${this.quorum}
          group by vc.version_id`,
    );
    for (const id of versionIds) out.set(id, { chunks: 0, present: Object.fromEntries(this.regions.map((r) => [r, 0])), complete: [], underReplicated: 0 });
    for (const r of rows) {
      const s = out.get(r.version_id);
      if (s) s.present[r.region] = Number(r.n);
    }
    for (const r of under) {
      const s = out.get(r.version_id);
      if (s) s.underReplicated = Number(r.n);
    }
    return out;
  }

  /**
   * The owner's files (or the bin) in name order, one page at a time: at most `limit` files after
   * the position `after` (the name and id of the previous page's last file), or only `name`.
   */
  async listFiles(ownerId: string, opts: { deleted?: boolean; limit?: number; after?: { name: string; id: string }; name?: string } = {}): Promise<FileListItem[]> {
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
    const rows = opts.limit === undefined ? await query : await query.limit(opts.limit);
    const ids = rows.map((r) => r.v.id);
    const summaries = await this.replicaSummaries(ownerId, ids);
    const compressedRows =
      ids.length === 0
        ? []
        : await queryRows<{ version_id: string }>(
            this.db,
            sql`select distinct vc.version_id from ${versionChunks} vc join ${chunks} c on c.owner_id = ${ownerId} and c.hash = vc.chunk_hash
                where c.compressed and vc.version_id in (${sql.join(ids.map((id) => sql`${id}::uuid`), sql`, `)})`,
          );
    const compressed = new Set(compressedRows.map((r) => r.version_id));
    return rows.map(({ f, v }) => {
      const s = summaries.get(v.id) as ReplicaSummary;
      s.chunks = v.chunkCount;
      s.complete = this.regions.filter((r) => (s.present[r] ?? 0) >= v.chunkCount);
      return { ...this.info(f, v, compressed.has(v.id)), replicas: s };
    });
  }

  async listVersions(ownerId: string, fileId: string): Promise<VersionInfo[]> {
    const f = await this.liveFile(ownerId, fileId);
    const rows = await this.db
      .select()
      .from(fileVersions)
      .where(and(eq(fileVersions.fileId, f.id), isNull(fileVersions.deletedAt)))
      .orderBy(desc(fileVersions.version));
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
    const page = await this.manifestPage(ownerId, v.id, 0, PLACEMENT_DETAIL_LIMIT);
    const placements: ChunkPlacementInfo[] = page.map((c) => ({
      index: c.idx,
      hash: c.hash,
      size: c.size,
      compressed: c.compressed,
      regions: Object.fromEntries(c.placements.map((p) => [p.region, p.state])),
    }));
    const summary = (await this.replicaSummaries(ownerId, [v.id])).get(v.id) as ReplicaSummary;
    summary.chunks = v.chunkCount;
    summary.complete = this.regions.filter((r) => (summary.present[r] ?? 0) >= v.chunkCount);
    return {
      ...this.info(f, v, placements.some((p) => p.compressed)),
      versions,
      placements,
      placementsTruncated: v.chunkCount > PLACEMENT_DETAIL_LIMIT,
      replicas: summary,
    };
  }

  /** Chunks [from, from+limit) of a version with their placements. */
  private async manifestPage(ownerId: string, versionId: string, from: number, limit: number) {
    const vcs = await this.db
      .select({ idx: versionChunks.idx, hash: versionChunks.chunkHash, size: versionChunks.size, compressed: chunks.compressed })
      .from(versionChunks)
      .leftJoin(chunks, and(eq(chunks.ownerId, ownerId), eq(chunks.hash, versionChunks.chunkHash)))
      .where(and(eq(versionChunks.versionId, versionId), sql`${versionChunks.idx} >= ${from}`, sql`${versionChunks.idx} < ${from + limit}`))
      .orderBy(asc(versionChunks.idx));
    const hashes = [...new Set(vcs.map((c) => c.hash))];
    const pls =
      hashes.length === 0
        ? []
        : await this.db
            .select({ hash: chunkPlacements.hash, region: chunkPlacements.region, state: chunkPlacements.state })
            .from(chunkPlacements)
            .where(and(eq(chunkPlacements.ownerId, ownerId), inArray(chunkPlacements.hash, hashes)));
    const byHash = new Map<string, { region: string; state: PlacementState }[]>();
    for (const p of pls) {
      const list = byHash.get(p.hash) ?? [];
      list.push({ region: p.region, state: p.state });
      byHash.set(p.hash, list);
    }
    return vcs.map((c) => ({ idx: c.idx, hash: c.hash, size: c.size, compressed: c.compressed ?? false, placements: byHash.get(c.hash) ?? [] }));
  }

  // ---------------------------------------------------------------- downloads

  /** Resolve a version and open a verified, streamed read of it (or of a byte range). */
  async openRead(ownerId: string, fileId: string, opts: ReadOptions = {}): Promise<OpenedRead> {
    const f = await this.liveFile(ownerId, fileId);
    const v = await this.versionRow(f.id, opts.version ?? f.currentVersion);
    const file = this.info(f, v, false);
    const size = file.size;
    const range = opts.range;
    const start = range?.start ?? 0;
    const end = range?.end ?? size - 1;
    const length = Math.max(0, end - start + 1);
    const decision = await this.decide(ownerId, f.name);
    const stream = Readable.from(this.readBytes(ownerId, v.id, start, end, decision.hedgeReads !== false), { objectMode: false, highWaterMark: CHUNK_SIZE });
    return { file, etag: `"${v.sha256}.${v.version}"`, length, range, stream };
  }

  private async *readBytes(ownerId: string, versionId: string, start: number, end: number, hedge: boolean): AsyncGenerator<Buffer> {
    if (end < start) return;
    const first = Math.floor(start / CHUNK_SIZE);
    const last = Math.floor(end / CHUNK_SIZE);
    let pageFrom = first;
    let page = await this.manifestPage(ownerId, versionId, pageFrom, PAGE);
    let pos = 0;
    const fetchAt = (c: { hash: string; placements: { region: string; state: PlacementState }[] }) => {
      const p = this.readChunk(ownerId, c.hash, c.placements, hedge);
      p.catch(() => undefined); // awaited below; avoid an unhandled rejection while prefetched
      return p;
    };
    const nextEntry = async () => {
      if (pos >= page.length) {
        pageFrom += PAGE;
        if (pageFrom > last) return undefined;
        page = await this.manifestPage(ownerId, versionId, pageFrom, PAGE);
        pos = 0;
      }
      const c = page[pos++];
      return c && c.idx <= last ? c : undefined;
    };
    let cur = await nextEntry();
    let curData = cur ? fetchAt(cur) : undefined;
    while (cur && curData) {
      // Prefetch the next chunk while this one is consumed.
      const next = await nextEntry();
      const nextData = next ? fetchAt(next) : undefined;
      const buf = await curData;
      const base = cur.idx * CHUNK_SIZE;
      const from = Math.max(0, start - base);
      const to = Math.min(buf.length, end - base + 1);
      if (buf.length !== cur.size) throw new CorruptChunk(cur.hash, `size ${buf.length} differs from manifest ${cur.size}`);
      yield from === 0 && to === buf.length ? buf : buf.subarray(from, to);
      cur = next;
      curData = nextData;
    }
  }

  /** The chunk list of a version with presigned GET URLs on the best replica holding each chunk. */
  async manifest(ownerId: string, fileId: string, version?: number): Promise<{ file: FileInfo; chunkSize: number; expiresInSeconds: number; chunks: ManifestChunk[] }> {
    const f = await this.liveFile(ownerId, fileId);
    const v = await this.versionRow(f.id, version ?? f.currentVersion);
    const out: ManifestChunk[] = [];
    for (let from = 0; from < v.chunkCount; from += PAGE) {
      const page = await this.manifestPage(ownerId, v.id, from, PAGE);
      for (const c of page) {
        const best = this.readOrder(c.placements).find((h) => h.present);
        out.push({
          index: c.idx,
          hash: c.hash,
          size: c.size,
          offset: c.idx * CHUNK_SIZE,
          compressed: c.compressed,
          region: best?.region ?? null,
          url: best ? await (this.stores.get(best.region) as ObjectStore).presignGet(chunkKey(ownerId, c.hash), this.presignSeconds) : null,
        });
      }
    }
    return { file: this.info(f, v, out.some((c) => c.compressed)), chunkSize: CHUNK_SIZE, expiresInSeconds: this.presignSeconds, chunks: out };
  }

  // ---------------------------------------------------------------- commits

  /** Bytes counted against the quota: every kept version of every live file (the bin does not count). */
  private async usedBytes(tx: Tx | Db, ownerId: string): Promise<number> {
    const rows = await queryRows<{ n: string | number | null }>(
      tx,
      sql`select coalesce(sum(v.size), 0) as n from ${fileVersions} v join ${files} f on f.id = v.file_id
          where f.owner_id = ${ownerId} and f.deleted_at is null and v.deleted_at is null`,
    );
    return Number(rows[0]?.n ?? 0);
  }

  /**
   * Commit a version in one catalog transaction: a new file, or a new version of the owner's live
   * file of that name. With `ifMatch`, the commit happens only if the current version is that one.
   */
  async commitVersion(
    ownerId: string,
    input: { name: string; size: number; sha256: string; contentType?: string; chunks: ChunkRef[]; mode: Mode; ifMatch?: number; sessionId?: string },
  ): Promise<FileInfo> {
    const name = validateName(input.name);
    checkFileSize(input.size, this.config.maxFileBytes);
    const now = this.clock();
    const result = await this.db.transaction(async (tx) => {
      // One commit per owner at a time: quota and name checks cannot race.
      await tx.select({ id: users.id }).from(users).where(eq(users.id, ownerId)).for('update');
      if (input.sessionId) {
        const [s] = await tx.select({ committedAt: uploadSessions.committedAt }).from(uploadSessions).where(eq(uploadSessions.id, input.sessionId)).for('update');
        if (!s) throw new NotFound('No such upload session.', 'upload_not_found');
        if (s.committedAt) throw new Conflict('This upload session was already committed.', 'upload_committed');
      }
      const [existing] = await tx.select().from(files).where(and(eq(files.ownerId, ownerId), eq(files.name, name), isNull(files.deletedAt))).for('update');
      if (input.ifMatch !== undefined && (existing?.currentVersion ?? 0) !== input.ifMatch) {
        throw new PreconditionFailed(
          existing
            ? `If-Match: version ${input.ifMatch} was asked for but '${name}' is at version ${existing.currentVersion}. Fetch the current version and retry.`
            : `If-Match: version ${input.ifMatch} was asked for but '${name}' does not exist (use If-Match: 0 to create it).`,
          'version_mismatch',
          { current_version: existing?.currentVersion ?? 0 },
        );
      }
      checkQuota(await this.usedBytes(tx, ownerId), input.size, this.config.quotaBytes);
      let file = existing;
      let version = 1;
      if (file) {
        const [mx] = await tx.select({ m: sql<number>`coalesce(max(${fileVersions.version}), 0)` }).from(fileVersions).where(eq(fileVersions.fileId, file.id));
        version = Number(mx?.m ?? 0) + 1;
      } else {
        [file] = await tx.insert(files).values({ ownerId, name, currentVersion: 1, createdAt: now, updatedAt: now }).returning();
      }
      if (!file) throw new Error('file row was not created');
      const [v] = await tx
        .insert(fileVersions)
        .values({ fileId: file.id, version, size: input.size, sha256: input.sha256, chunkCount: input.chunks.length, contentType: input.contentType ?? 'application/octet-stream', mode: input.mode, createdAt: now })
        .returning();
      if (!v) throw new Error('version row was not created');
      for (let i = 0; i < input.chunks.length; i += 1000) {
        const batch = input.chunks.slice(i, i + 1000);
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
    metrics.addMetric('VersionCommitted', MetricUnit.Count, 1);
    return this.info(result.f, result.v, await this.anyCompressed(result.v.id, ownerId));
  }

  /**
   * Store a whole stream as a new version (the single-request upload): chunked as it arrives,
   * a few chunks in flight at a time, never the whole file in memory.
   */
  async uploadStream(ownerId: string, input: { name: string; contentType?: string; ifMatch?: number; declaredSize?: number }, source: AsyncIterable<Uint8Array>): Promise<FileInfo> {
    const name = validateName(input.name);
    if (input.declaredSize !== undefined) {
      checkFileSize(input.declaredSize, this.config.maxFileBytes);
      checkQuota(await this.usedBytes(this.db, ownerId), input.declaredSize, this.config.quotaBytes);
    }
    const decision = await this.decide(ownerId, name);
    /** The weakest mode any chunk was acknowledged under (a write may finish under another). */
    let ackedMode: Mode = decision.mode;
    const whole = createHash('sha256');
    const refs: ChunkRef[] = [];
    const inflight = new Set<Promise<void>>();
    let size = 0;
    let failure: unknown;
    for await (const piece of chunkStream(source)) {
      size += piece.length;
      checkFileSize(size, this.config.maxFileBytes);
      whole.update(piece);
      const hash = sha256Hex(piece);
      refs.push({ hash, size: piece.length });
      const p: Promise<void> = this.writeChunk(ownerId, hash, piece, decision, () => this.decide(ownerId, name)).then(
        (r) => {
          if (MODE_STRENGTH[r.mode] < MODE_STRENGTH[ackedMode]) ackedMode = r.mode;
        },
        (err: unknown) => {
          failure ??= err;
        },
      );
      const tracked = p.finally(() => inflight.delete(tracked));
      inflight.add(tracked);
      if (inflight.size >= this.uploadConcurrency) await Promise.race(inflight);
      if (failure) break;
    }
    await Promise.all(inflight);
    if (failure) throw failure;
    return this.commitVersion(ownerId, { name, size, sha256: whole.digest('hex'), contentType: input.contentType, chunks: refs, mode: ackedMode, ifMatch: input.ifMatch });
  }

  // ---------------------------------------------------------------- upload sessions

  /** Copies a chunk needs before a commit may count on it: a majority in strong mode, else one. */
  private copiesNeeded(mode: Mode): number {
    return mode === 'C' ? this.quorum : 1;
  }

  /** Declared chunks that do not yet have `need` present copies (in declaration order, unique). */
  private async missingChunks(ownerId: string, hashes: string[], need = 1): Promise<string[]> {
    const unique = [...new Set(hashes)];
    const have = new Set<string>();
    for (let i = 0; i < unique.length; i += 1000) {
      const batch = unique.slice(i, i + 1000);
      const rows = await this.db
        .select({ hash: chunkPlacements.hash })
        .from(chunkPlacements)
        .where(and(eq(chunkPlacements.ownerId, ownerId), eq(chunkPlacements.state, 'present'), inArray(chunkPlacements.hash, batch)))
        .groupBy(chunkPlacements.hash)
        .having(sql`count(*) >= ${need}`);
      for (const r of rows) have.add(r.hash);
    }
    return unique.filter((h) => !have.has(h));
  }

  async createSession(ownerId: string, input: CreateSessionInput): Promise<SessionInfo> {
    const name = validateName(input.name);
    if (!Number.isSafeInteger(input.size) || input.size < 0) throw new BadRequest('size must be a non-negative integer number of bytes.', 'invalid_size');
    checkFileSize(input.size, this.config.maxFileBytes);
    if (!HASH_RE.test(input.sha256)) throw new BadRequest('sha256 must be 64 lower-case hex characters (SHA-256 of the whole file).', 'invalid_sha256');
    checkChunkList(input.size, input.chunks);
    checkQuota(await this.usedBytes(this.db, ownerId), input.size, this.config.quotaBytes);
    const now = this.clock();
    const expiresAt = new Date(now.getTime() + this.config.uploadTtlSeconds * 1000);
    const [s] = await this.db
      .insert(uploadSessions)
      .values({ ownerId, name, size: input.size, sha256: input.sha256, contentType: input.contentType ?? 'application/octet-stream', chunks: input.chunks.map((c) => ({ hash: c.hash, size: c.size })), createdAt: now, expiresAt })
      .returning();
    if (!s) throw new Error('upload session was not created');
    // Chunks this upload will reuse must survive garbage collection until the commit.
    const hashes = [...new Set(input.chunks.map((c) => c.hash))];
    for (let i = 0; i < hashes.length; i += 1000) {
      await this.db.update(chunks).set({ touchedAt: now }).where(and(eq(chunks.ownerId, ownerId), inArray(chunks.hash, hashes.slice(i, i + 1000))));
    }
    const decision = await this.decide(ownerId, name);
    const missing = await this.missingChunks(ownerId, hashes, this.copiesNeeded(decision.mode));
    return { uploadId: s.id, name, size: input.size, sha256: input.sha256, chunks: input.chunks.length, missing, expiresAt, committed: false, chunkSize: CHUNK_SIZE };
  }

  private async session(ownerId: string, uploadId: string) {
    if (!/^[0-9a-f-]{36}$/i.test(uploadId)) throw new NotFound('No such upload session.', 'upload_not_found');
    const [s] = await this.db.select().from(uploadSessions).where(and(eq(uploadSessions.id, uploadId), eq(uploadSessions.ownerId, ownerId)));
    if (!s) throw new NotFound('No such upload session.', 'upload_not_found');
    if (!s.committedAt && s.expiresAt.getTime() <= this.clock().getTime()) {
      throw new NotFound('This upload session has expired; start a new one (chunks already stored are reused).', 'upload_expired');
    }
    return s;
  }

  async getSession(ownerId: string, uploadId: string): Promise<SessionInfo> {
    const s = await this.session(ownerId, uploadId);
    const need = s.committedAt ? 1 : this.copiesNeeded((await this.decide(ownerId, s.name)).mode);
    const missing = s.committedAt ? [] : await this.missingChunks(ownerId, s.chunks.map((c) => c.hash), need);
    return { uploadId: s.id, name: s.name, size: Number(s.size), sha256: s.sha256, chunks: s.chunks.length, missing, expiresAt: s.expiresAt, committed: s.committedAt !== null, chunkSize: CHUNK_SIZE };
  }

  async putSessionChunk(ownerId: string, uploadId: string, hash: string, body: Buffer): Promise<ChunkWriteResult> {
    const s = await this.session(ownerId, uploadId);
    if (s.committedAt) throw new Conflict('This upload session was already committed.', 'upload_committed');
    const declared = s.chunks.find((c) => c.hash === hash);
    if (!declared) throw new BadRequest(`Chunk ${hash} is not part of this upload session; send only the declared chunks.`, 'chunk_not_declared');
    if (body.length > CHUNK_SIZE) throw new PayloadTooLarge(`A chunk holds at most ${CHUNK_SIZE} bytes; this one has ${body.length}.`, 'chunk_too_large');
    if (body.length !== declared.size) throw new BadRequest(`Chunk ${hash} was declared as ${declared.size} bytes but ${body.length} arrived; nothing was stored.`, 'chunk_size_mismatch');
    const decision = await this.decide(ownerId, s.name);
    const res = await this.writeChunk(ownerId, hash, body, decision, () => this.decide(ownerId, s.name));
    this.advanceSessionHash(s.id, s.chunks, hash, body);
    return res;
  }

  private advanceSessionHash(id: string, list: ChunkRef[], hash: string, body: Buffer): void {
    let st = this.sessionHashes.get(id);
    if (!st) {
      if (list[0]?.hash !== hash) return;
      if (this.sessionHashes.size >= 1000) {
        const oldest = this.sessionHashes.keys().next().value;
        if (oldest !== undefined) this.sessionHashes.delete(oldest);
      }
      st = { hash: createHash('sha256'), next: 0 };
      this.sessionHashes.set(id, st);
    }
    while (list[st.next]?.hash === hash) {
      st.hash.update(body);
      st.next += 1;
    }
  }

  /** The whole-file SHA-256 of a session's chunks: the running hash where it covers them, else a verified read-back. */
  private async sessionSha256(ownerId: string, id: string, list: ChunkRef[]): Promise<string> {
    const st = this.sessionHashes.get(id);
    this.sessionHashes.delete(id);
    const h = st?.hash ?? createHash('sha256');
    const from = st?.next ?? 0;
    for (let i = from; i < list.length; i += PAGE) {
      const hashes = [...new Set(list.slice(i, i + PAGE).map((c) => c.hash))];
      const pls = await this.db
        .select({ hash: chunkPlacements.hash, region: chunkPlacements.region, state: chunkPlacements.state })
        .from(chunkPlacements)
        .where(and(eq(chunkPlacements.ownerId, ownerId), inArray(chunkPlacements.hash, hashes)));
      for (const c of list.slice(i, i + PAGE)) {
        h.update(await this.readChunk(ownerId, c.hash, pls.filter((p) => p.hash === c.hash)));
      }
    }
    return h.digest('hex');
  }

  async commitSession(ownerId: string, uploadId: string, ifMatch?: number): Promise<FileInfo> {
    const s = await this.session(ownerId, uploadId);
    if (s.committedAt) throw new Conflict('This upload session was already committed.', 'upload_committed');
    const decision = await this.decide(ownerId, s.name);
    const missing = await this.missingChunks(ownerId, s.chunks.map((c) => c.hash), this.copiesNeeded(decision.mode));
    if (missing.length > 0) {
      throw new BadRequest(
        `${missing.length} chunk(s) are not stored on enough replicas for mode ${decision.mode} yet; send them (PUT /api/v1/uploads/{id}/chunks/{hash}), then commit again.`,
        'chunks_missing',
        { missing },
      );
    }
    const actual = await this.sessionSha256(ownerId, s.id, s.chunks);
    if (actual !== s.sha256) {
      throw new BadRequest(`The chunks hash to ${actual} but the session declared sha256 ${s.sha256}; check the chunk list and start a new session.`, 'sha256_mismatch');
    }
    return this.commitVersion(ownerId, { name: s.name, size: Number(s.size), sha256: s.sha256, contentType: s.contentType, chunks: s.chunks, mode: decision.mode, ifMatch, sessionId: s.id });
  }

  async abortSession(ownerId: string, uploadId: string): Promise<void> {
    const s = await this.session(ownerId, uploadId);
    if (s.committedAt) throw new Conflict('This upload session was already committed.', 'upload_committed');
    this.sessionHashes.delete(s.id);
    // Expire it now; its unreferenced chunks are collected after the grace period.
    await this.db.update(uploadSessions).set({ expiresAt: this.clock() }).where(eq(uploadSessions.id, s.id));
  }

  // ---------------------------------------------------------------- delete / restore

  async softDelete(ownerId: string, fileId: string): Promise<void> {
    const f = await this.liveFile(ownerId, fileId);
    await this.db.update(files).set({ deletedAt: this.clock() }).where(and(eq(files.id, f.id), isNull(files.deletedAt)));
  }

  async restore(ownerId: string, fileId: string): Promise<FileInfo> {
    if (!/^[0-9a-f-]{36}$/i.test(fileId)) throw new NotFound('No such file.', 'file_not_found');
    const [f] = await this.db.select().from(files).where(and(eq(files.id, fileId), eq(files.ownerId, ownerId)));
    if (!f) throw new NotFound('No such file.', 'file_not_found');
    if (!f.deletedAt) throw new Conflict('This file is not deleted; there is nothing to restore.', 'not_deleted');
    const [live] = await this.db.select({ id: files.id }).from(files).where(and(eq(files.ownerId, ownerId), eq(files.name, f.name), isNull(files.deletedAt)));
    if (live) throw new Conflict(`A file named '${f.name}' exists now; rename or delete it, then restore.`, 'name_taken');
    const [own] = await queryRows<{ n: string | number | null }>(
      this.db,
      sql`select coalesce(sum(size), 0) as n from ${fileVersions} where file_id = ${f.id} and deleted_at is null`,
    );
    checkQuota(await this.usedBytes(this.db, ownerId), Number(own?.n ?? 0), this.config.quotaBytes);
    try {
      await this.db.update(files).set({ deletedAt: null, updatedAt: this.clock() }).where(eq(files.id, f.id));
    } catch (err) {
      if (/files_owner_name_live_key/.test(errMessage(err)) || /unique/i.test(errMessage(err))) {
        throw new Conflict(`A file named '${f.name}' exists now; rename or delete it, then restore.`, 'name_taken');
      }
      throw err;
    }
    return this.getFileInfo(ownerId, f.id);
  }

  // ---------------------------------------------------------------- health

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
