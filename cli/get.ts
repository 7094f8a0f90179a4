/**
 * `echofs get`: download a file in parallel, verified, resumable.
 *
 * GET /api/v1/files/{id}/manifest gives the file's SHA-256 and each chunk's hash, size and offset.
 * The chunks still to fetch are cut into runs of consecutive chunks; several runs are fetched at
 * once, each as one byte range of the download route (Range: bytes=a-b), read as it streams: every
 * chunk is checked against its hash and written at its offset into `DEST.echofs-part` as soon as
 * its last byte arrives. A journal beside it (`DEST.echofs-part.json`) records the chunks written,
 * so an interrupted get run again fetches only the rest; a run cut off in the middle (a lost
 * connection) resumes from its first chunk not written. The finished file is checked against the
 * whole-file SHA-256 before it takes the name DEST.
 *
 * Files larger than the streaming limit of a deployment are fetched chunk by chunk through the
 * manifest's presigned URLs on the replicas (a stored chunk: a 1-byte header, 0 = raw,
 * 1 = deflate-raw, then the bytes); a URL that fails (expired, unreachable replica) falls back to a
 * range of the download route for that chunk.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { appendFile, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { constants, inflateRaw } from 'node:zlib';
import { CliError } from './errors.js';
import { mibPerSecond } from './format.js';
import { isRetryable, networkError, retrying, type Api } from './http.js';
import { eachLimit } from './put.js';
import type { Progress } from './progress.js';
import { manifestAnswer, type Manifest } from './schemas.js';
import { DOWNLOAD_TOKEN_HEADER, STREAM_MAX_BYTES } from '../shared/downloads.js';

const inflate = promisify(inflateRaw);
const MAX_CHUNK = 1024 * 1024;
/** Most chunks one range request carries (64 MiB). */
const MAX_RUN = 64;
const ATTEMPTS = 5;

/** The most a deployment streams in one response (a Lambda Function URL: 200 MB). */
export const STREAM_LIMIT = STREAM_MAX_BYTES;

export interface GetContext {
  api: Api;
  progress: Progress;
  concurrency: number;
  /** Files larger than this are fetched through the manifest's presigned URLs. */
  presignedAbove: number;
  signal?: AbortSignal;
}

export interface GetResult {
  file_id: string;
  name: string;
  version: number;
  size: number;
  sha256: string;
  dest: string;
  chunks: number;
  /** Chunks fetched by this run (the rest were already in the partial file of an interrupted get). */
  chunks_fetched: number;
  chunks_reused: number;
  source: 'range' | 'presigned';
  verified: true;
  seconds: number;
  mib_per_s: number;
}

interface Journal {
  file_id: string;
  version: number;
  sha256: string;
  size: number;
}

type Chunk = Manifest['chunks'][number];
type OnChunk = (c: Chunk, bytes: Buffer) => Promise<void>;

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

export async function fetchManifest(api: Api, fileId: string, version: number | undefined, signal?: AbortSignal): Promise<Manifest> {
  const r = await retrying(() => api.json(`/api/v1/files/${encodeURIComponent(fileId)}/manifest`, manifestAnswer, { query: { version }, signal }), { signal });
  const m = r.data;
  let expected = 0;
  for (const [i, c] of m.chunks.entries()) {
    if (c.index !== i || c.offset !== expected || c.size < 0 || c.size > MAX_CHUNK) throw new CliError('failure', `The manifest of ${m.name} is inconsistent at chunk ${i}.`);
    expected += c.size;
  }
  if (expected !== m.size) throw new CliError('failure', `The manifest of ${m.name} covers ${expected} bytes, not ${m.size}.`);
  return m;
}

/** Decode a stored chunk (presigned URL): a 1-byte header, then raw or deflate-raw bytes. */
export async function decodeStored(stored: Buffer): Promise<Buffer> {
  const format = stored[0];
  if (format === 0) return stored.subarray(1);
  if (format === 1) return inflate(stored.subarray(1), { maxOutputLength: MAX_CHUNK, finishFlush: constants.Z_SYNC_FLUSH });
  throw new Error(`unknown chunk format ${String(format)}`);
}

class BadChunk extends CliError {
  constructor(m: Manifest, c: Chunk) {
    super('unavailable', `Chunk ${c.index} of ${m.name} did not match its SHA-256.`);
  }
}

/**
 * Fetch consecutive chunks `run` as one byte range, handing each to `onChunk` once verified, in
 * order. A connection lost or a bad chunk in the middle resumes from the first chunk not handed
 * over; it gives up after ATTEMPTS failures in a row without progress.
 */
async function fetchRun(ctx: GetContext, m: Manifest, run: readonly Chunk[], onChunk: OnChunk): Promise<void> {
  let pos = 0;
  let failures = 0;
  while (pos < run.length) {
    const before = pos;
    try {
      const first = run[pos] as Chunk;
      const last = run[run.length - 1] as Chunk;
      const res = await ctx.api.request(`/api/v1/files/${encodeURIComponent(m.file_id)}/download`, {
        query: { version: m.version },
        // The streaming endpoint of a deployment reads the token from its own header (CloudFront
        // signs the Authorization header towards it).
        headers: { Range: `bytes=${first.offset}-${last.offset + last.size - 1}`, Accept: '*/*', ...(ctx.api.token ? { [DOWNLOAD_TOKEN_HEADER]: `Bearer ${ctx.api.token}` } : {}) },
        signal: ctx.signal,
      });
      // A server that ignores Range sends the whole file (200): skip to the run's first byte.
      let skip = res.status === 200 ? first.offset : 0;
      let buf = Buffer.allocUnsafe(first.size);
      let filled = 0;
      const deliver = async () => {
        const c = run[pos] as Chunk;
        if (sha256(buf) !== c.hash) throw new BadChunk(m, c);
        await onChunk(c, buf);
        pos++;
        const next = run[pos];
        buf = Buffer.allocUnsafe(next ? next.size : 0);
        filled = 0;
      };
      // An empty chunk (a 0-byte file has none, but be safe) needs no bytes.
      while (pos < run.length && (run[pos] as Chunk).size === 0) await deliver();
      try {
        for await (const piece of (res.body ?? []) as unknown as AsyncIterable<Uint8Array>) {
          let off = 0;
          if (skip > 0) {
            const n = Math.min(skip, piece.length);
            skip -= n;
            off = n;
          }
          while (off < piece.length && pos < run.length) {
            const n = Math.min(buf.length - filled, piece.length - off);
            buf.set(piece.subarray(off, off + n), filled);
            filled += n;
            off += n;
            if (filled === buf.length) {
              await deliver();
              while (pos < run.length && (run[pos] as Chunk).size === 0) await deliver();
            }
          }
          if (pos >= run.length) break;
        }
      } catch (err) {
        throw err instanceof CliError ? err : networkError(err, ctx.api.url, ctx.signal);
      }
      if (pos < run.length) throw new CliError('unavailable', `The download of ${m.name} ended early, at chunk ${(run[pos] as Chunk).index}.`);
    } catch (err) {
      if (ctx.signal?.aborted || !isRetryable(err, true)) throw err;
      failures = pos > before ? 1 : failures + 1;
      if (failures >= ATTEMPTS) {
        if (err instanceof BadChunk) throw new CliError('failure', `${err.message} Every attempt returned other bytes; the file could not be verified.`);
        throw err;
      }
      const delay = Math.min(8000, 250 * 2 ** (failures - 1));
      ctx.progress.note(`echofs: ${m.name}: ${(err as Error).message} (retry from chunk ${(run[pos] as Chunk).index} in ${(delay / 1000).toFixed(1)}s)`);
      await sleep(delay, undefined, ctx.signal ? { signal: ctx.signal } : undefined);
    }
  }
}

async function fetchPresigned(ctx: GetContext, c: Chunk): Promise<Buffer> {
  if (!c.url) throw new Error('no presigned URL for this chunk');
  const timeout = AbortSignal.timeout(60_000);
  const res = await fetch(c.url, { signal: ctx.signal ? AbortSignal.any([ctx.signal, timeout]) : timeout });
  if (!res.ok) {
    await res.body?.cancel();
    throw new Error(`replica answered HTTP ${res.status}`);
  }
  return decodeStored(Buffer.from(await res.arrayBuffer()));
}

/** One chunk through its presigned URL, verified; through the API when the URL or its bytes fail. */
async function fetchViaPresigned(ctx: GetContext, m: Manifest, c: Chunk, onChunk: OnChunk): Promise<void> {
  try {
    const bytes = await fetchPresigned(ctx, c);
    if (bytes.length === c.size && sha256(bytes) === c.hash) return onChunk(c, bytes);
    ctx.progress.note(`echofs: chunk ${c.index} from its presigned URL did not verify; fetching it through the API`);
  } catch (err) {
    if (ctx.signal?.aborted) throw err;
    ctx.progress.note(`echofs: chunk ${c.index} via its presigned URL failed (${(err as Error).message}); fetching it through the API`);
  }
  await fetchRun(ctx, m, [c], onChunk);
}

/** Cut chunks into runs of consecutive chunks, about two per transfer slot, at most MAX_RUN long. */
export function planRuns(chunks: readonly Chunk[], concurrency: number): Chunk[][] {
  const size = Math.max(1, Math.min(MAX_RUN, Math.ceil(chunks.length / Math.max(1, concurrency * 2))));
  const runs: Chunk[][] = [];
  let cur: Chunk[] = [];
  for (const c of chunks) {
    const prev = cur[cur.length - 1];
    if (cur.length > 0 && (cur.length >= size || !prev || prev.index + 1 !== c.index)) {
      runs.push(cur);
      cur = [];
    }
    cur.push(c);
  }
  if (cur.length > 0) runs.push(cur);
  return runs;
}

/** Fetch `chunks` (all of them or a subset), `concurrency` transfers at once. */
async function fetchAll(ctx: GetContext, m: Manifest, chunks: readonly Chunk[], presigned: boolean, onChunk: OnChunk): Promise<void> {
  if (presigned) await eachLimit(chunks, ctx.concurrency, (c) => fetchViaPresigned(ctx, m, c, onChunk));
  else await eachLimit(planRuns(chunks, ctx.concurrency), ctx.concurrency, (run) => fetchRun(ctx, m, run, onChunk));
}

async function readJournal(path: string): Promise<{ head: Journal; done: Set<number> } | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
  const [first, ...rest] = text.split('\n');
  try {
    const head = JSON.parse(first ?? '') as Journal;
    return { head, done: new Set(rest.filter((l) => /^\d+$/.test(l)).map(Number)) };
  } catch {
    return undefined;
  }
}

async function hashOfFile(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const piece of createReadStream(path, { highWaterMark: MAX_CHUNK }) as AsyncIterable<Buffer>) h.update(piece);
  return h.digest('hex');
}

/** Download the file of manifest `m` into `dest`. */
export async function getFile(m: Manifest, dest: string, ctx: GetContext): Promise<GetResult> {
  const started = performance.now();
  const part = `${dest}.echofs-part`;
  const journalPath = `${part}.json`;
  const head: Journal = { file_id: m.file_id, version: m.version, sha256: m.sha256, size: m.size };
  const presigned = m.size > ctx.presignedAbove;

  // Pick up an interrupted download of the same version, or start over.
  let done = new Set<number>();
  const j = await readJournal(journalPath);
  const partSize = await stat(part).then((s) => s.size, () => -1);
  if (j && j.head.file_id === head.file_id && j.head.version === head.version && j.head.sha256 === head.sha256 && partSize === m.size) {
    done = new Set([...j.done].filter((i) => i < m.chunks.length));
    if (done.size > 0) ctx.progress.note(`echofs: resuming ${m.name}: ${done.size} of ${m.chunks.length} chunks already downloaded`);
  } else {
    await writeFile(journalPath, JSON.stringify(head) + '\n', { mode: 0o600 });
  }

  const fh = await open(part, partSize === m.size ? 'r+' : 'w');
  let fetched = 0;
  let ok = false;
  try {
    await fh.truncate(m.size);
    const write: OnChunk = async (c, bytes) => {
      await fh.write(bytes, 0, bytes.length, c.offset);
      await appendFile(journalPath, `${c.index}\n`);
      fetched++;
      ctx.progress.advance(c.size);
    };
    const todo = m.chunks.filter((c) => !done.has(c.index));
    ctx.progress.start('get', todo.reduce((s, c) => s + c.size, 0));
    ctx.progress.detail(m.name);
    await fetchAll(ctx, m, todo, presigned, write);
    ctx.progress.stop(true);
    await fh.sync();

    // The whole file against its SHA-256: this also catches a partial file damaged between runs.
    if ((await hashOfFile(part)) !== m.sha256) {
      const bad: Chunk[] = [];
      for (const c of m.chunks) {
        const buf = Buffer.allocUnsafe(c.size);
        await fh.read(buf, 0, c.size, c.offset);
        if (sha256(buf) !== c.hash) bad.push(c);
      }
      ctx.progress.note(`echofs: ${bad.length} chunk(s) of ${m.name} on disk did not verify; fetching them again`);
      await fetchAll(ctx, m, bad, false, write);
      await fh.sync();
      if ((await hashOfFile(part)) !== m.sha256) {
        throw new CliError('failure', `The downloaded ${m.name} does not match its SHA-256 ${m.sha256}; nothing was written to ${dest}.`);
      }
    }
    ok = true;
  } finally {
    ctx.progress.stop(ok);
    await fh.close();
  }
  await rename(part, dest);
  await rm(journalPath, { force: true });
  const seconds = (performance.now() - started) / 1000;
  return {
    file_id: m.file_id,
    name: m.name,
    version: m.version,
    size: m.size,
    sha256: m.sha256,
    dest,
    chunks: m.chunks.length,
    chunks_fetched: fetched,
    chunks_reused: done.size,
    source: presigned ? 'presigned' : 'range',
    verified: true,
    seconds: Math.round(seconds * 1000) / 1000,
    mib_per_s: mibPerSecond(m.size, seconds * 1000),
  };
}

/** Stream the file to `out` (DEST "-"), in order: each chunk verified, then the whole file. */
export async function getToStream(m: Manifest, out: NodeJS.WritableStream, ctx: GetContext): Promise<void> {
  const whole = createHash('sha256');
  const presigned = m.size > ctx.presignedAbove;
  const write: OnChunk = async (c, bytes) => {
    whole.update(bytes);
    if (!out.write(bytes)) await new Promise<void>((r) => out.once('drain', () => r()));
    ctx.progress.advance(c.size);
  };
  ctx.progress.start('get', m.size);
  ctx.progress.detail(m.name);
  let ok = false;
  try {
    // One transfer, in order (a pipe cannot take bytes out of order).
    if (presigned) for (const c of m.chunks) await fetchViaPresigned(ctx, m, c, write);
    else await fetchRun(ctx, m, m.chunks, write);
    ok = true;
  } finally {
    ctx.progress.stop(ok);
  }
  if (whole.digest('hex') !== m.sha256) throw new CliError('failure', `The downloaded ${m.name} does not match its SHA-256 ${m.sha256}.`);
}
