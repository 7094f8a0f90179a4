/**
 * `echofs put`: upload files through chunk sessions, the way the web app does, from a terminal.
 *
 *   1. hash each file in 1 MiB chunks (SHA-256 of each chunk and of the whole file);
 *   2. declare them: POST /api/v1/uploads {name, size, sha256, chunks} answers the chunks the server
 *      still lacks (`missing`): stored chunks (an earlier attempt, another file) are not sent again;
 *   3. PUT /api/v1/uploads/{id}/chunks/{hash} for each missing chunk, several at once;
 *   4. POST /api/v1/uploads/{id}/commit.
 *
 * The hashes and the session id are saved in a local state file as soon as the session exists, so
 * an interrupted put (Ctrl-C, a lost connection, a crash) run again neither re-hashes the file nor
 * re-sends what the server already holds: it asks the session what is missing.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { CliError } from './errors.js';
import { mibPerSecond } from './format.js';
import { retrying, type Api } from './http.js';
import type { Progress } from './progress.js';
import { fileAnswer, listAnswer, uploadSessionAnswer, type FileItem } from './schemas.js';
import type { UploadState, UploadStates } from './config.js';

export const CHUNK_SIZE = 1024 * 1024;

export interface LocalFile {
  /** Absolute path. */
  path: string;
  /** The name to store it under. */
  name: string;
  size: number;
  mtimeMs: number;
}

export interface PutContext {
  api: Api;
  userId: string;
  states: UploadStates;
  progress: Progress;
  /** Chunk PUTs in flight at once, over all files. */
  concurrency: number;
  ifMatch?: number;
  contentType?: string;
  signal?: AbortSignal;
}

export interface PutResult {
  path: string;
  name: string;
  file_id: string;
  version: number | undefined;
  size: number;
  sha256: string;
  chunks: number;
  /** Chunk PUTs this run made. */
  chunks_sent: number;
  bytes_sent: number;
  /** Distinct chunks the server already held (earlier attempt, another file, same content). */
  chunks_already_stored: number;
  /** True when a saved session of an interrupted put was picked up. */
  resumed: boolean;
  /** From this file's first chunk PUT to its commit (hashing not included). */
  seconds: number;
  mib_per_s: number;
}

interface Hashed {
  sha256: string;
  chunks: { hash: string; size: number }[];
}

/** SHA-256 of each 1 MiB chunk and of the whole file, reading it once. */
export async function hashFile(path: string, onBytes: (n: number) => void, signal?: AbortSignal): Promise<Hashed> {
  const whole = createHash('sha256');
  const chunks: Hashed['chunks'] = [];
  let cur = createHash('sha256');
  let filled = 0;
  const stream = createReadStream(path, { highWaterMark: CHUNK_SIZE, signal });
  for await (const piece of stream as AsyncIterable<Buffer>) {
    whole.update(piece);
    let off = 0;
    while (off < piece.length) {
      const n = Math.min(CHUNK_SIZE - filled, piece.length - off);
      cur.update(piece.subarray(off, off + n));
      filled += n;
      off += n;
      if (filled === CHUNK_SIZE) {
        chunks.push({ hash: cur.digest('hex'), size: CHUNK_SIZE });
        cur = createHash('sha256');
        filled = 0;
      }
    }
    onBytes(piece.length);
  }
  if (filled > 0) chunks.push({ hash: cur.digest('hex'), size: filled });
  return { sha256: whole.digest('hex'), chunks };
}

/** A counting semaphore: at most `n` holders at once. */
export class Limiter {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly n: number) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.n) await new Promise<void>((r) => this.waiting.push(r));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

/** Run `fn` over `items`, at most `limit` at a time; the first failure stops new work and is thrown. */
export async function eachLimit<T>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: { err: unknown } | undefined;
  const worker = async () => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        await fn(items[i] as T, i);
      } catch (err) {
        failed ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failed) throw failed.err;
}

interface Job {
  file: LocalFile;
  key: { url: string; userId: string; path: string; name: string };
  hashed?: Hashed;
  uploadId?: string;
  missing: string[];
  resumed: boolean;
  chunksSent: number;
  bytesSent: number;
  alreadyStored: number;
  started: number;
}

const sessionPath = (id: string) => `/api/v1/uploads/${encodeURIComponent(id)}`;

/** Upload `files`; returns one result per file, in order. */
export async function putFiles(files: readonly LocalFile[], ctx: PutContext): Promise<PutResult[]> {
  const { api, progress } = ctx;
  const jobs: Job[] = [];
  for (const file of files) {
    const key = { url: api.url, userId: ctx.userId, path: file.path, name: file.name };
    const saved = await ctx.states.load(key);
    const usable = saved && saved.size === file.size && saved.mtime_ms === file.mtimeMs ? saved : undefined;
    jobs.push({
      file,
      key,
      hashed: usable ? { sha256: usable.sha256, chunks: usable.chunks } : undefined,
      uploadId: usable?.upload_id,
      missing: [],
      resumed: usable?.upload_id !== undefined,
      chunksSent: 0,
      bytesSent: 0,
      alreadyStored: 0,
      started: performance.now(),
    });
  }

  // 1. Hash what has no saved hashes (the file changed, or it is new).
  const toHash = jobs.filter((j) => !j.hashed);
  if (toHash.length > 0) {
    progress.start('hash', toHash.reduce((s, j) => s + j.file.size, 0));
    try {
      for (const j of toHash) {
        progress.detail(j.file.name);
        j.hashed = await hashFile(j.file.path, (n) => progress.advance(n), ctx.signal);
        // The file must not change while it is read: a later chunk would not match its hash.
        const after = await stat(j.file.path);
        if (after.size !== j.file.size || after.mtimeMs !== j.file.mtimeMs) {
          throw new CliError('failure', `${j.file.path} changed while it was read; upload it again once it is complete.`);
        }
        await ctx.states.save(stateOf(j));
      }
    } finally {
      progress.stop(toHash.every((j) => j.hashed));
    }
  }

  // 2. Declare each file, or pick up its saved session and ask what is still missing.
  await eachLimit(jobs, 4, async (j) => {
    await openSession(j, ctx);
    await ctx.states.save(stateOf(j));
  });

  // 3. Send the missing chunks of every file, `concurrency` PUTs in flight over all of them.
  const limiter = new Limiter(ctx.concurrency);
  const missingBytes = jobs.reduce((s, j) => s + bytesOf(j, j.missing), 0);
  const results: PutResult[] = [];
  progress.start('put', missingBytes);
  const filesDone = () => (jobs.length === 1 ? (jobs[0] as Job).file.name : `${results.length}/${jobs.length} files`);
  progress.detail(filesDone());
  let ok = false;
  try {
    await eachLimit(jobs, Math.max(1, Math.min(4, ctx.concurrency)), async (j) => {
      j.started = performance.now();
      await sendMissing(j, ctx, limiter);
      const file = await commit(j, ctx);
      await ctx.states.remove(j.key);
      const seconds = (performance.now() - j.started) / 1000;
      const hashed = j.hashed as Hashed;
      results.push({
        path: j.file.path,
        name: file.name,
        file_id: file.file_id,
        version: file.version,
        size: j.file.size,
        sha256: hashed.sha256,
        chunks: hashed.chunks.length,
        chunks_sent: j.chunksSent,
        bytes_sent: j.bytesSent,
        chunks_already_stored: j.alreadyStored,
        resumed: j.resumed,
        seconds: Math.round(seconds * 1000) / 1000,
        mib_per_s: mibPerSecond(j.file.size, seconds * 1000),
      });
      progress.detail(filesDone());
    });
    ok = true;
  } finally {
    progress.stop(ok);
  }
  const order = new Map(jobs.map((j, i) => [j.file.path + '\0' + j.file.name, i]));
  return results.sort((a, b) => (order.get(a.path + '\0' + a.name) ?? 0) - (order.get(b.path + '\0' + b.name) ?? 0));
}

function stateOf(j: Job): UploadState {
  const h = j.hashed as Hashed;
  return { v: 1, url: j.key.url, user_id: j.key.userId, path: j.file.path, name: j.file.name, size: j.file.size, mtime_ms: j.file.mtimeMs, sha256: h.sha256, chunks: h.chunks, upload_id: j.uploadId, updated_at: new Date().toISOString() };
}

/** Bytes of the distinct chunks named in `hashes`. */
function bytesOf(j: Job, hashes: readonly string[]): number {
  const sizes = new Map((j.hashed as Hashed).chunks.map((c) => [c.hash, c.size]));
  return [...new Set(hashes)].reduce((s, h) => s + (sizes.get(h) ?? 0), 0);
}

async function declare(j: Job, ctx: PutContext): Promise<void> {
  const h = j.hashed as Hashed;
  const r = await retrying(
    () =>
      ctx.api.json('/api/v1/uploads', uploadSessionAnswer, {
        method: 'POST',
        json: { name: j.file.name, size: j.file.size, sha256: h.sha256, chunks: h.chunks, ...(ctx.contentType ? { content_type: ctx.contentType } : {}) },
        signal: ctx.signal,
      }),
    retryOpts(ctx, `declare ${j.file.name}`),
  );
  j.uploadId = r.data.upload_id;
  j.missing = r.data.missing;
}

async function openSession(j: Job, ctx: PutContext): Promise<void> {
  const distinct = new Set((j.hashed as Hashed).chunks.map((c) => c.hash)).size;
  if (j.uploadId) {
    try {
      const s = await retrying(() => ctx.api.json(sessionPath(j.uploadId as string), uploadSessionAnswer, { signal: ctx.signal }), retryOpts(ctx, `resume ${j.file.name}`));
      if (s.data.committed) {
        // Committed by the interrupted run after all: a new session (every chunk is stored) gives its file.
        j.uploadId = undefined;
      } else {
        j.missing = s.data.missing;
        ctx.progress.note(`echofs: resuming ${j.file.name}: ${distinct - new Set(j.missing).size} of ${distinct} chunks already on the server`);
      }
    } catch (err) {
      // The session expired or was cancelled: declare again (stored chunks still count).
      if (!(err instanceof CliError) || err.kind !== 'notFound') throw err;
      j.uploadId = undefined;
    }
  }
  if (!j.uploadId) await declare(j, ctx);
  j.alreadyStored = distinct - new Set(j.missing).size;
}

async function sendMissing(j: Job, ctx: PutContext, limiter: Limiter): Promise<void> {
  const h = j.hashed as Hashed;
  const firstIndex = new Map<string, number>();
  h.chunks.forEach((c, i) => {
    if (!firstIndex.has(c.hash)) firstIndex.set(c.hash, i);
  });
  if (j.missing.length === 0) return;
  let fh: FileHandle | undefined;
  try {
    fh = await open(j.file.path, 'r');
    for (let round = 0; j.missing.length > 0; round++) {
      if (round >= 3) throw new CliError('failure', `The server still lacks ${j.missing.length} chunk(s) of ${j.file.name} after they were sent; try again later.`);
      const todo = [...new Set(j.missing)];
      const handle = fh;
      await eachLimit(todo, ctx.concurrency, (hash) =>
        limiter.run(async () => {
          const i = firstIndex.get(hash);
          const c = i === undefined ? undefined : h.chunks[i];
          if (i === undefined || !c) throw new CliError('failure', `The server asked for chunk ${hash.slice(0, 12)}…, which is not part of ${j.file.name}.`);
          const buf = Buffer.allocUnsafe(c.size);
          const { bytesRead } = await handle.read(buf, 0, c.size, i * CHUNK_SIZE);
          if (bytesRead !== c.size || createHash('sha256').update(buf).digest('hex') !== hash) {
            throw new CliError('failure', `${j.file.path} changed since it was hashed; run the put again to upload the new content.`);
          }
          await retrying(
            () =>
              ctx.api.request(`${sessionPath(j.uploadId as string)}/chunks/${hash}`, {
                method: 'PUT',
                body: buf,
                headers: { 'Content-Type': 'application/octet-stream' },
                signal: ctx.signal,
              }),
            { ...retryOpts(ctx, `chunk ${i} of ${j.file.name}`), retryServerErrors: true },
          ).then((res) => res.body?.cancel());
          j.chunksSent++;
          j.bytesSent += c.size;
          ctx.progress.advance(c.size);
        }),
      ).catch(async (err: unknown) => {
        // The session expired in the middle: declare again and send what is still missing.
        if (err instanceof CliError && err.kind === 'notFound' && err.details.code !== undefined && /upload/.test(err.details.code)) {
          await declare(j, ctx);
          await ctx.states.save(stateOf(j));
          return;
        }
        throw err;
      });
      // Ask the session rather than trust the bookkeeping: only what the server lacks is sent again.
      j.missing = (await retrying(() => ctx.api.json(sessionPath(j.uploadId as string), uploadSessionAnswer, { signal: ctx.signal }), retryOpts(ctx, 'session'))).data.missing;
    }
  } finally {
    await fh?.close();
  }
}

async function commit(j: Job, ctx: PutContext): Promise<FileItem> {
  const uploadId = j.uploadId as string;
  let attempts = 0;
  for (;;) {
    attempts++;
    try {
      const r = await retrying(
        () =>
          ctx.api.json(`${sessionPath(uploadId)}/commit`, fileAnswer, {
            method: 'POST',
            signal: ctx.signal,
            ...(ctx.ifMatch !== undefined ? { headers: { 'If-Match': String(ctx.ifMatch) } } : {}),
          }),
        retryOpts(ctx, `commit ${j.file.name}`),
      );
      return r.data;
    } catch (err) {
      if (!(err instanceof CliError) || attempts > 3) throw err;
      if (err.details.code === 'upload_committed') {
        // An earlier attempt went through but its answer was lost: the file is there.
        const found = await findByName(ctx.api, j.file.name);
        if (found && found.sha256 === (j.hashed as Hashed).sha256) return found;
        throw err;
      }
      if (err.details.code === 'chunks_missing') {
        // The mode changed under the upload and wants more copies: send what is missing, then commit.
        j.missing = (await ctx.api.json(sessionPath(uploadId), uploadSessionAnswer, { signal: ctx.signal })).data.missing;
        await sendMissing(j, ctx, new Limiter(ctx.concurrency));
        continue;
      }
      throw err;
    }
  }
}

async function findByName(api: Api, name: string): Promise<FileItem | undefined> {
  const r = await api.json('/api/v1/files', listAnswer, { query: { name, limit: 10 } });
  return r.data.find((f) => f.name === name);
}

function retryOpts(ctx: PutContext, what: string) {
  return {
    signal: ctx.signal,
    onRetry: (err: CliError, attempt: number, delayMs: number) => ctx.progress.note(`echofs: ${what}: ${err.message} (retry ${attempt} in ${(delayMs / 1000).toFixed(1)}s)`),
  };
}
