/**
 * `echofs get`: download a file in parallel, verified, resumable.
 *
 * GET /api/v1/files/{id}/manifest gives the file's SHA-256 and each chunk's hash, size and offset.
 * Chunks are fetched several at once, each checked against its hash before it is written at its
 * offset into `DEST.echofs-part`; a journal beside it (`DEST.echofs-part.json`) records the chunks
 * written, so an interrupted get run again fetches only the rest. The finished file is checked
 * against the whole-file SHA-256 before it takes the name DEST.
 *
 * A chunk comes from the download route as a byte range (Range: bytes=a-b, at most 1 MiB: it fits
 * any buffered response), or, for files larger than the streaming limit of a deployment, from the
 * manifest's presigned URL on a replica (a stored chunk: a 1-byte header, 0 = raw, 1 = deflate-raw,
 * then the bytes). A presigned URL that fails (expired, unreachable replica) falls back to a range.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { appendFile, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { constants, inflateRaw } from 'node:zlib';
import { CliError } from './errors.js';
import { mibPerSecond } from './format.js';
import { networkError, retrying, type Api } from './http.js';
import { eachLimit } from './put.js';
import type { Progress } from './progress.js';
import { manifestAnswer, type Manifest } from './schemas.js';

const inflate = promisify(inflateRaw);
const MAX_CHUNK = 1024 * 1024;

/** The most a deployment streams in one response (a Lambda Function URL: 200 MB). */
export const STREAM_LIMIT = 200 * 1000 * 1000;

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

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

export async function fetchManifest(api: Api, fileId: string, version: number | undefined, signal?: AbortSignal): Promise<Manifest> {
  const r = await retrying(
    () => api.json(`/api/v1/files/${encodeURIComponent(fileId)}/manifest`, manifestAnswer, { query: { version }, signal }),
    { signal },
  );
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

type Chunk = Manifest['chunks'][number];

async function fetchRange(ctx: GetContext, m: Manifest, c: Chunk): Promise<Buffer> {
  const res = await ctx.api.request(`/api/v1/files/${encodeURIComponent(m.file_id)}/download`, {
    query: { version: m.version },
    headers: { Range: `bytes=${c.offset}-${c.offset + c.size - 1}`, Accept: '*/*' },
    signal: ctx.signal,
  });
  let body: Buffer;
  try {
    body = Buffer.from(await res.arrayBuffer());
  } catch (err) {
    throw networkError(err, ctx.api.url, ctx.signal);
  }
  // A server that ignores Range sends the whole file with 200: take the chunk's bytes from it.
  if (res.status === 200 && body.length === m.size && m.size !== c.size) body = body.subarray(c.offset, c.offset + c.size);
  return body;
}

async function fetchPresigned(ctx: GetContext, c: Chunk): Promise<Buffer> {
  if (!c.url) throw new Error('no presigned URL for this chunk');
  const res = await fetch(c.url, { signal: ctx.signal ? AbortSignal.any([ctx.signal, AbortSignal.timeout(60_000)]) : AbortSignal.timeout(60_000) });
  if (!res.ok) {
    await res.body?.cancel();
    throw new Error(`replica answered HTTP ${res.status}`);
  }
  return decodeStored(Buffer.from(await res.arrayBuffer()));
}

/** One chunk's bytes, verified against its hash; retried (and a bad copy re-fetched) a few times. */
async function fetchChunk(ctx: GetContext, m: Manifest, c: Chunk, presigned: boolean): Promise<Buffer> {
  let usePresigned = presigned && !!c.url;
  return retrying(
    async () => {
      let bytes: Buffer;
      if (usePresigned) {
        try {
          bytes = await fetchPresigned(ctx, c);
        } catch (err) {
          if (ctx.signal?.aborted) throw err;
          ctx.progress.note(`echofs: chunk ${c.index} via its presigned URL failed (${(err as Error).message}); fetching it through the API`);
          usePresigned = false;
          bytes = await fetchRange(ctx, m, c);
        }
      } else {
        bytes = await fetchRange(ctx, m, c);
      }
      if (bytes.length !== c.size || sha256(bytes) !== c.hash) {
        // A bad copy on the way: fetch it again (through the API, which reads another replica).
        usePresigned = false;
        throw new CliError('unavailable', `Chunk ${c.index} of ${m.name} did not match its SHA-256.`);
      }
      return bytes;
    },
    { signal: ctx.signal, retryServerErrors: true, attempts: 5, onRetry: (err, attempt, delay) => ctx.progress.note(`echofs: chunk ${c.index}: ${err.message} (retry ${attempt} in ${(delay / 1000).toFixed(1)}s)`) },
  ).catch((err: unknown) => {
    if (err instanceof CliError && err.message.includes('did not match')) throw new CliError('failure', `${err.message} Every attempt returned wrong bytes; the file could not be verified.`);
    throw err;
  });
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
    const done = new Set(rest.filter((l) => /^\d+$/.test(l)).map(Number));
    return { head, done };
  } catch {
    return undefined;
  }
}

async function hashOfFile(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const piece of createReadStream(path, { highWaterMark: MAX_CHUNK }) as AsyncIterable<Buffer>) h.update(piece);
  return h.digest('hex');
}

/** Download `fileId` (its manifest already read) into `dest`. */
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
    const writeChunk = async (c: Chunk, bytes: Buffer) => {
      await fh.write(bytes, 0, bytes.length, c.offset);
      await appendFile(journalPath, `${c.index}\n`);
      fetched++;
    };
    const todo = m.chunks.filter((c) => !done.has(c.index));
    ctx.progress.start('get', todo.reduce((s, c) => s + c.size, 0));
    ctx.progress.detail(m.name);
    await eachLimit(todo, ctx.concurrency, async (c) => {
      const bytes = await fetchChunk(ctx, m, c, presigned);
      await writeChunk(c, bytes);
      ctx.progress.advance(c.size);
    });
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
      await eachLimit(bad, ctx.concurrency, async (c) => writeChunk(c, await fetchChunk(ctx, m, c, false)));
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

/** Stream the file to `out` (DEST "-"): in order, each chunk verified, then the whole file. */
export async function getToStream(m: Manifest, out: NodeJS.WritableStream, ctx: GetContext): Promise<Omit<GetResult, 'dest' | 'chunks_reused'> & { dest: '-' }> {
  const started = performance.now();
  const whole = createHash('sha256');
  const presigned = m.size > ctx.presignedAbove;
  // A window of chunks in flight, written in order.
  const window = Math.max(1, ctx.concurrency);
  const pending = new Map<number, Promise<Buffer>>();
  const launch = (i: number) => {
    const c = m.chunks[i];
    if (!c || pending.has(i)) return;
    const p = fetchChunk(ctx, m, c, presigned);
    p.catch(() => undefined);
    pending.set(i, p);
  };
  ctx.progress.start('get', m.size);
  let ok = false;
  try {
    for (let i = 0; i < m.chunks.length; i++) {
      for (let k = i; k < Math.min(m.chunks.length, i + window); k++) launch(k);
      const bytes = await (pending.get(i) as Promise<Buffer>);
      pending.delete(i);
      whole.update(bytes);
      if (!out.write(bytes)) await new Promise<void>((r) => out.once('drain', () => r()));
      ctx.progress.advance(bytes.length);
    }
    ok = true;
  } finally {
    ctx.progress.stop(ok);
  }
  if (whole.digest('hex') !== m.sha256) throw new CliError('failure', `The downloaded ${m.name} does not match its SHA-256 ${m.sha256}.`);
  const seconds = (performance.now() - started) / 1000;
  return { file_id: m.file_id, name: m.name, version: m.version, size: m.size, sha256: m.sha256, dest: '-', chunks: m.chunks.length, chunks_fetched: m.chunks.length, source: presigned ? 'presigned' : 'range', verified: true, seconds, mib_per_s: mibPerSecond(m.size, seconds * 1000) };
}
