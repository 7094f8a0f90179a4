/**
 * Chunk planning and hashing for chunk-session uploads: a file is cut into chunks of at most
 * 1 MiB; each chunk is addressed by the SHA-256 of its bytes, and the whole file by its own SHA-256.
 */
import { Sha256, toHex } from './sha256.js';

export const CHUNK_SIZE = 1024 * 1024;

export interface ChunkPlan {
  index: number;
  offset: number;
  size: number;
}

export interface HashedChunk extends ChunkPlan {
  hash: string;
}

export interface HashedFile {
  size: number;
  sha256: string;
  chunks: HashedChunk[];
}

/** The chunk boundaries of a file of `size` bytes: contiguous, in order, each ≤ chunkSize. */
export function planChunks(size: number, chunkSize = CHUNK_SIZE): ChunkPlan[] {
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`invalid file size: ${size}`);
  if (!Number.isSafeInteger(chunkSize) || chunkSize <= 0) throw new RangeError(`invalid chunk size: ${chunkSize}`);
  const out: ChunkPlan[] = [];
  for (let offset = 0, index = 0; offset < size; offset += chunkSize, index++) {
    out.push({ index, offset, size: Math.min(chunkSize, size - offset) });
  }
  return out;
}

/** The smallest part of Blob that hashing needs (a File is one). */
export interface BlobLike {
  readonly size: number;
  slice(start?: number, end?: number): { arrayBuffer(): Promise<ArrayBuffer> };
}

export async function readChunk(blob: BlobLike, chunk: ChunkPlan): Promise<ArrayBuffer> {
  return blob.slice(chunk.offset, chunk.offset + chunk.size).arrayBuffer();
}

/**
 * Hash every chunk (WebCrypto) and the whole file (incremental), reading one chunk at a time so
 * memory stays flat. `onProgress` gets the bytes hashed so far; `signal` aborts between chunks.
 */
export async function hashBlob(
  blob: BlobLike,
  opts: { chunkSize?: number; onProgress?: (bytes: number) => void; signal?: AbortSignal } = {},
): Promise<HashedFile> {
  const plan = planChunks(blob.size, opts.chunkSize);
  const whole = new Sha256();
  const chunks: HashedChunk[] = [];
  let done = 0;
  for (const c of plan) {
    if (opts.signal?.aborted) throw opts.signal.reason ?? new DOMException('Aborted', 'AbortError');
    // A view made here: some environments hand back an ArrayBuffer of another realm.
    const bytes = new Uint8Array(await readChunk(blob, c));
    const digest = await crypto.subtle.digest('SHA-256', bytes);
    whole.update(bytes);
    chunks.push({ ...c, hash: toHex(digest) });
    done += c.size;
    opts.onProgress?.(done);
  }
  return { size: blob.size, sha256: whole.hex(), chunks };
}

/** Unique chunk hashes still to send, in file order (a file may repeat a chunk). */
export function pendingChunks(chunks: readonly HashedChunk[], missing: Iterable<string>): HashedChunk[] {
  const want = new Set(missing);
  const out: HashedChunk[] = [];
  for (const c of chunks) {
    if (want.has(c.hash)) {
      out.push(c);
      want.delete(c.hash);
    }
  }
  return out;
}
