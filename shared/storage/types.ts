/**
 * The data path's shared shapes: what the engine's modules take and return (file, version,
 * session and chunk views, the engine's dependencies and config), and the checks on a declared
 * chunk list. Imports only the ports, never the facade.
 */
import type { Readable } from 'node:stream';
import type { Config, Mode } from '../config.js';
import type { Db } from '../catalog/db.js';
import type { PlacementState } from '../catalog/schema.js';
import type { CatalogRepository, ChunkRecord } from '../catalog/repository.js';
import type { Clock } from '../clock.js';
import { BadRequest } from '../errors.js';
import { CHUNK_SIZE, HASH_RE } from './codec.js';
import type { HealthSink, ModeDecision, ModeSource, ObjectStore } from './ports.js';

export type { PlacementState };

export type EngineConfig = Pick<Config, 'mode' | 'maxFileBytes' | 'quotaBytes' | 'uploadTtlSeconds' | 'replicaTimeoutMs'>;

export interface HybridDeadline {
  /** Deadline = factor × the slowest observed replica latency, clamped to [minMs, maxMs]. */
  factor: number;
  minMs: number;
  maxMs: number;
}

export interface StorageEngineDeps {
  db: Db;
  /** The catalog port; by default the Drizzle repository over `db`. */
  catalog?: CatalogRepository;
  /** region -> replica, in a stable order (config.regions). */
  stores: Map<string, ObjectStore>;
  config: EngineConfig;
  modeSource?: ModeSource;
  health?: HealthSink;
  clock?: Clock;
  /** Called after a write left pending placements (kicks the replicator). */
  onBacklog?: () => void;
  hybridDeadline?: Partial<HybridDeadline>;
  /** Parallel chunk writes of one streamed upload (default 4). */
  uploadConcurrency?: number;
  /** How long a presigned chunk URL stays valid (default 900 s). */
  presignSeconds?: number;
  /** How a session chunk waits to join the whole-file hash (shared/storage/upload-sessions.ts). */
  sessionHash?: Partial<SessionHashWait>;
}

export interface SessionHashWait {
  /** The longest a chunk's request waits for its predecessors to be hashed (default 5000 ms). */
  waitMs: number;
  /** Once its copies are written, how long it waits for the hash to move before giving up (default 250 ms). */
  graceMs: number;
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
  /** A deferred record (writeChunk's `deferred`): the chunk's row and copies, not yet written. */
  record?: ChunkRecord;
}

/** How a write was acknowledged: the mode, which replicas held every chunk at the ack, which were left pending. */
export interface WriteAck {
  mode: Mode;
  /** Regions holding every chunk of the version when it was acknowledged. */
  acked: string[];
  /** Regions missing at least one chunk then: the replicator copies to them. */
  pending: string[];
  /** Fewer than a majority of replicas held every chunk. */
  degraded: boolean;
}

export interface FileInfo {
  /** Set on the answer of a write (upload, commit): how it was acknowledged. */
  ack?: WriteAck;
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

/**
 * A version resolved for reading (one catalog statement): what it is, and its bytes (or a byte
 * range) to open once the caller has decided to (after its conditional-request checks).
 */
export interface PreparedRead {
  file: FileInfo;
  /** The version's entity tag (the same as the opened read's). */
  etag: string;
  /**
   * `decision`: the mode decision the caller already made for this request (the route reports it),
   * so that the read does not ask the controller a second time; decided here when absent.
   */
  open(opts?: { range?: { start: number; end: number }; decision?: ModeDecision }): Promise<OpenedRead>;
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

export const PAGE = 256;
export const PLACEMENT_DETAIL_LIMIT = 2000;

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

export const MODE_STRENGTH: Record<Mode, number> = { C: 2, H: 1, A: 0 };
