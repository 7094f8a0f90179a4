/**
 * The chunk codec. A chunk is at most 1 MiB of plaintext, addressed by its SHA-256. It is stored
 * behind a one-byte header so every stored object describes itself (anti-entropy can verify a copy
 * without the catalog):
 *   0x00 + plaintext            stored raw
 *   0x01 + deflate-raw(plain)   compressed (only when that saves space)
 * Decoding always verifies the plaintext against the expected hash.
 */
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { constants, deflateRaw, deflateRawSync, inflateRaw } from 'node:zlib';

export const CHUNK_SIZE = 1024 * 1024;

const RAW = 0x00;
const DEFLATE = 0x01;
/** Fast level: compression must not become the bottleneck of the data path. */
const LEVEL = 1;
/**
 * Chunks up to SMALL_CHUNK are judged by their first SMALL_SAMPLE bytes, compressed on the spot (about
 * 40 µs): a full attempt on an incompressible 16 KiB chunk costs about 0.25 ms of CPU per write, on
 * the thread pool and in the stream machinery around it. Chunks no larger than SMALL_SAMPLE are tried whole.
 */
const SMALL_CHUNK = 64 * 1024;
const SMALL_SAMPLE = 4 * 1024;
/**
 * Larger chunks are judged by a sample of this many bytes, on the thread pool: about 0.2 ms of
 * deflate per 1 MiB chunk (a 64 KiB sample took 1.3 ms, a few per cent of a large upload's CPU on
 * two cores).
 */
const SAMPLE = 16 * 1024;
/** A sample that does not shrink below this fraction of its size marks the chunk incompressible. */
const WORTH = 0.97;

const deflateAsync = promisify(deflateRaw);
const inflateAsync = promisify(inflateRaw);

export const HASH_RE = /^[0-9a-f]{64}$/;

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** A stored chunk that does not decode to its hash (bit rot, truncation, a wrong object). */
export class CorruptChunk extends Error {
  constructor(
    readonly hash: string,
    readonly reason: string,
  ) {
    super(`chunk ${hash.slice(0, 12)}… is corrupt: ${reason}`);
    this.name = 'CorruptChunk';
  }
}

export interface EncodedChunk {
  hash: string;
  /** Plaintext size. */
  size: number;
  /** Bytes to store (header included). */
  stored: Buffer;
  compressed: boolean;
}

export async function encodeChunk(plain: Buffer, knownHash?: string): Promise<EncodedChunk> {
  if (plain.length > CHUNK_SIZE) throw new RangeError(`a chunk holds at most ${CHUNK_SIZE} bytes (got ${plain.length})`);
  const hash = knownHash ?? sha256Hex(plain);
  if (plain.length >= 64 && (await worthCompressing(plain))) {
    const packed = await deflateAsync(plain, { level: LEVEL });
    if (packed.length < plain.length) {
      return { hash, size: plain.length, stored: Buffer.concat([Buffer.of(DEFLATE), packed]), compressed: true };
    }
  }
  return { hash, size: plain.length, stored: Buffer.concat([Buffer.of(RAW), plain]), compressed: false };
}

/**
 * Whether a full compression attempt is worth its CPU, judged on a sample from the chunk's start:
 * incompressible data (media, archives, encrypted or random bytes) barely shrinks, and is then
 * stored raw without the attempt. A chunk whose start is incompressible and whose rest is not is
 * stored raw too: a missed saving, never a wrong result.
 */
export async function worthCompressing(plain: Buffer): Promise<boolean> {
  if (plain.length <= SMALL_SAMPLE) return true;
  if (plain.length <= SMALL_CHUNK) {
    const sample = plain.subarray(0, SMALL_SAMPLE);
    return deflateRawSync(sample, { level: LEVEL }).length < sample.length * WORTH;
  }
  const sample = plain.subarray(0, SAMPLE);
  const packed = await deflateAsync(sample, { level: LEVEL });
  return packed.length < sample.length * WORTH;
}

/** Decode a stored chunk and verify it; throws CorruptChunk when it is not what was stored. */
export async function decodeChunk(stored: Buffer, expectedHash: string): Promise<Buffer> {
  if (stored.length === 0) throw new CorruptChunk(expectedHash, 'empty object (no header)');
  const format = stored[0];
  const body = stored.subarray(1);
  let plain: Buffer;
  if (format === RAW) {
    plain = body;
  } else if (format === DEFLATE) {
    try {
      plain = await inflateAsync(body, { maxOutputLength: CHUNK_SIZE, finishFlush: constants.Z_SYNC_FLUSH });
    } catch (err) {
      throw new CorruptChunk(expectedHash, `does not inflate (${(err as Error).message})`);
    }
  } else {
    throw new CorruptChunk(expectedHash, `unknown format byte ${String(format)}`);
  }
  const actual = sha256Hex(plain);
  if (actual !== expectedHash) throw new CorruptChunk(expectedHash, `content hashes to ${actual.slice(0, 12)}…`);
  return plain;
}

/**
 * Re-cut any stream of buffers into chunks of exactly `size` bytes (the last may be shorter).
 * An empty stream yields nothing. Memory stays at about one chunk whatever the stream length.
 */
export async function* chunkStream(source: AsyncIterable<Uint8Array>, size = CHUNK_SIZE): AsyncGenerator<Buffer> {
  if (!Number.isInteger(size) || size <= 0) throw new RangeError('chunk size must be a positive integer');
  let buf = Buffer.allocUnsafe(size);
  let filled = 0;
  for await (const piece of source) {
    let off = 0;
    while (off < piece.length) {
      const n = Math.min(size - filled, piece.length - off);
      buf.set(piece.subarray(off, off + n), filled);
      filled += n;
      off += n;
      if (filled === size) {
        yield buf;
        buf = Buffer.allocUnsafe(size);
        filled = 0;
      }
    }
  }
  if (filled > 0) yield buf.subarray(0, filled);
}

/** Chunk a buffer already in memory (small files, tests). */
export function chunkBuffer(data: Buffer, size = CHUNK_SIZE): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off < data.length; off += size) out.push(data.subarray(off, Math.min(off + size, data.length)));
  return out;
}

/** The manifest entries of a buffer: [{hash, size}] per chunk, and the whole-file SHA-256. */
export function describeBuffer(data: Buffer): { sha256: string; chunks: { hash: string; size: number }[] } {
  return { sha256: sha256Hex(data), chunks: chunkBuffer(data).map((c) => ({ hash: sha256Hex(c), size: c.length })) };
}
