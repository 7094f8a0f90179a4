/**
 * Ports of the storage engine. Adapters: S3 (cloud and emulators alike) for ObjectStore, the
 * controller for ModeSource and HealthSink. Tests may use in-memory fakes of these ports.
 */
import type { Mode } from '../config.js';

/** One replica: a bucket in one region. Keys never contain user-supplied text. */
export interface ObjectStore {
  readonly region: string;
  put(key: string, body: Buffer, signal?: AbortSignal): Promise<void>;
  /** Resolves undefined when the object does not exist. */
  get(key: string, signal?: AbortSignal): Promise<Buffer | undefined>;
  exists(key: string, signal?: AbortSignal): Promise<boolean>;
  delete(key: string, signal?: AbortSignal): Promise<void>;
  list(prefix: string): AsyncIterable<{ key: string; size: number }>;
  /** A presigned GET URL for parallel clients. */
  presignGet(key: string, expiresInSeconds: number): Promise<string>;
}

export interface ModeDecision {
  mode: Mode;
  reason: string;
  /** Reads may hedge to further holders when the first is slow (default); false reads holders one by one. */
  hedgeReads?: boolean;
  /**
   * Mode C from the controller's own decision only (never a critical key, an override or a strong
   * hint): the latency-aware deadline path (shared/controller/write-path.ts). A chunk write waits
   * for a majority at most `waitMs`, then is acknowledged with the copies it has (reported as mode
   * H, degraded, with the rest pending); a commit needs one copy of each chunk.
   */
  writePath?: DeadlinePath;
}

export interface DeadlinePath {
  /** How long a write waits for a majority (ms). */
  waitMs: number;
  /** Write latency estimates by region (ms): the wait ends early when no majority can arrive within it. */
  estimatesMs: Record<string, number>;
  reason: string;
}

/** Object key of a chunk: owner id (a uuid) and the SHA-256 hex of the plaintext; never user text. */
export function chunkKey(ownerId: string, hash: string): string {
  return `chunks/${ownerId}/${hash}`;
}

/** Where the engine gets the consistency mode of one object (a cached lookup): by owner and file name. */
export interface ModeSource {
  modeFor(ownerId: string, name?: string): Promise<ModeDecision>;
}

/** What the data path observes about each replica, fed into the controller's health picture. */
export interface HealthSink {
  observe(region: string, outcome: { ok: boolean; latencyMs: number; error?: string }): void;
  /** Regions currently judged reachable, best first (lowest latency). */
  ranked(regions: readonly string[]): string[];
  recordWrite?(bytes: number): void;
  /** Smoothed latency of a region in ms, if measured (derives the hybrid deadline and hedge delay). */
  latency?(region: string): number | undefined;
  /** Persist the observations made so far where other processes see them (awaited within the request). */
  flush?(): Promise<void>;
  /** A chunk write to `region` starts (write latency estimates); call the result with its outcome when it ends. */
  writeStarted?(region: string): (ok: boolean) => void;
  /** When the region last answered a call (epoch ms), by any caller whose observations this picture holds (probes, writes, other containers). */
  lastOkAt?(region: string): number | undefined;
}

/** A mode source for a fixed mode (ECHOFS_MODE), used until the controller decides per object. */
export function fixedMode(mode: Mode): ModeSource {
  return { modeFor: async () => ({ mode, reason: 'fixed by configuration (ECHOFS_MODE)' }) };
}
