/**
 * Chunk-session uploads: the state of each upload (a pure reducer) and the engine that drives one
 * upload through it (hash → declare the chunks → send the missing ones in parallel → commit),
 * retrying with backoff after network errors and resuming by asking the session what is missing.
 */
import { ApiError, isAbort, errorMessage, type Api, type FileSummary } from './api.js';
import { hashBlob, pendingChunks, readChunk, type BlobLike, type HashedFile } from './chunking.js';

export type UploadPhase = 'queued' | 'hashing' | 'uploading' | 'committing' | 'retrying' | 'done' | 'failed' | 'cancelled';

export interface UploadItem {
  id: string;
  name: string;
  size: number;
  phase: UploadPhase;
  /** Bytes hashed so far (hashing phase). */
  hashedBytes: number;
  /** Unique bytes the server must hold (a repeated chunk counts once). */
  totalBytes: number;
  /** Of those, bytes the server holds (sent now, or already present: dedupe/resume). */
  doneBytes: number;
  /** Consecutive failed attempts without progress. */
  attempt: number;
  uploadId?: string;
  error?: string;
  /** The error code of a failure (the server's, or the client's own), for its friendly text. */
  errorCode?: string;
  retryInMs?: number;
  /** The last failure can be retried (network, 5xx): the queue retries it when the browser is back online. */
  retryable?: boolean;
  /** Why the transfer did not start at 0% (resumed session, or content the server already holds). */
  note?: string;
  /** Recent transfer samples (ms timestamp, bytes sent then) for the speed; only bytes actually sent count. */
  samples?: readonly { at: number; bytes: number }[];
  file?: FileSummary;
}

/** How far back the speed looks. */
export const SPEED_WINDOW_MS = 8000;

export type UploadEvent =
  | { type: 'add'; id: string; name: string; size: number }
  | { type: 'hashing'; id: string; bytes: number }
  | { type: 'session'; id: string; uploadId: string; totalBytes: number; doneBytes: number; resumed?: boolean }
  | { type: 'chunk-sent'; id: string; bytes: number; at?: number }
  | { type: 'committing'; id: string }
  | { type: 'retrying'; id: string; attempt: number; delayMs: number; error: string }
  | { type: 'done'; id: string; file: FileSummary }
  | { type: 'failed'; id: string; error: string; code?: string; retryable?: boolean }
  | { type: 'cancelled'; id: string }
  | { type: 'requeue'; id: string }
  | { type: 'remove'; id: string };

export const FINISHED: ReadonlySet<UploadPhase> = new Set(['done', 'failed', 'cancelled']);

/** The pure transition function of the upload list. Unknown ids and finished items ignore progress events. */
export function uploadReducer(items: readonly UploadItem[], ev: UploadEvent): UploadItem[] {
  if (ev.type === 'add') {
    if (items.some((i) => i.id === ev.id)) return [...items];
    return [...items, { id: ev.id, name: ev.name, size: ev.size, phase: 'queued', hashedBytes: 0, totalBytes: ev.size, doneBytes: 0, attempt: 0 }];
  }
  if (ev.type === 'remove') return items.filter((i) => i.id !== ev.id);
  return items.map((it) => (it.id === ev.id ? step(it, ev) : it));
}

function step(it: UploadItem, ev: Exclude<UploadEvent, { type: 'add' | 'remove' }>): UploadItem {
  const finished = FINISHED.has(it.phase);
  switch (ev.type) {
    case 'requeue':
      return it.phase === 'failed' ? { ...it, phase: 'queued', attempt: 0, error: undefined, errorCode: undefined, retryInMs: undefined, retryable: undefined, samples: [] } : it;
    case 'cancelled':
      return finished ? it : { ...it, phase: 'cancelled', retryInMs: undefined };
  }
  if (finished) return it;
  switch (ev.type) {
    case 'hashing':
      return { ...it, phase: 'hashing', hashedBytes: Math.min(ev.bytes, it.size) };
    case 'session': {
      const done = Math.min(ev.doneBytes, ev.totalBytes);
      const first = it.uploadId === undefined;
      const pct = ev.totalBytes > 0 ? Math.floor((100 * done) / ev.totalBytes) : 0;
      // Say why the bar does not start at zero, once, when the transfer (re)starts part-way.
      const note =
        done > 0 && done < ev.totalBytes && (first || it.note === undefined || ev.resumed)
          ? ev.resumed
            ? `Resumed at ${pct}%: the server kept the parts sent before the interruption.`
            : `Starting at ${pct}%: the server already holds ${pct}% of this content (an earlier, interrupted upload or identical data), so only the rest is sent.`
          : it.note;
      return { ...it, phase: 'uploading', uploadId: ev.uploadId, totalBytes: ev.totalBytes, doneBytes: done, hashedBytes: it.size, error: undefined, retryInMs: undefined, ...(note ? { note } : {}) };
    }
    case 'chunk-sent': {
      const at = ev.at ?? Date.now();
      const samples = [...(it.samples ?? []).filter((x) => at - x.at <= SPEED_WINDOW_MS), { at, bytes: ev.bytes }];
      return { ...it, phase: 'uploading', doneBytes: Math.min(it.doneBytes + ev.bytes, it.totalBytes), attempt: 0, error: undefined, retryInMs: undefined, samples };
    }
    case 'committing':
      return { ...it, phase: 'committing', doneBytes: it.totalBytes, error: undefined, retryInMs: undefined };
    case 'retrying':
      return { ...it, phase: 'retrying', attempt: ev.attempt, error: ev.error, retryInMs: ev.delayMs };
    case 'done':
      return { ...it, phase: 'done', doneBytes: it.totalBytes, hashedBytes: it.size, file: ev.file, error: undefined, retryInMs: undefined };
    case 'failed':
      return { ...it, phase: 'failed', error: ev.error, retryInMs: undefined, retryable: ev.retryable ?? false, ...(ev.code ? { errorCode: ev.code } : {}) };
  }
}

/** Progress in [0, 1] of the byte transfer (hashing shows its own progress). */
export function uploadProgress(it: UploadItem): number {
  if (it.phase === 'done' || it.phase === 'committing') return 1;
  if (it.phase === 'hashing' || it.phase === 'queued') return 0;
  if (it.totalBytes === 0) return it.uploadId ? 1 : 0;
  return Math.min(1, it.doneBytes / it.totalBytes);
}

/** Share of the bar given to hashing: the whole bar moves forward only, through both phases. */
export const HASH_SHARE = 0.1;

/** One monotonic progress in [0, 1] for the bar: hashing fills the first tenth, the transfer the rest. */
export function overallProgress(it: UploadItem): number {
  if (it.phase === 'done') return 1;
  if (it.phase === 'queued') return 0;
  if (it.phase === 'hashing' || !it.uploadId) return it.size > 0 ? HASH_SHARE * Math.min(1, it.hashedBytes / it.size) : 0;
  return HASH_SHARE + (1 - HASH_SHARE) * uploadProgress(it);
}

/**
 * Bytes per second over the recent window, or undefined before there is enough to say. The window
 * starts at the first sample's send, so one burst of parallel chunks does not read as infinite.
 */
export function uploadSpeed(it: Pick<UploadItem, 'samples'>, now: number = Date.now()): number | undefined {
  const recent = (it.samples ?? []).filter((x) => now - x.at <= SPEED_WINDOW_MS);
  if (recent.length < 2) return undefined;
  const first = recent[0] as { at: number; bytes: number };
  const span = Math.max(now, (recent[recent.length - 1] as { at: number }).at) - first.at;
  if (span < 250) return undefined;
  // The first sample's bytes were sent before the window opened: count the ones after it.
  const bytes = recent.slice(1).reduce((s, x) => s + x.bytes, 0);
  return (bytes * 1000) / span;
}

/** Seconds left at the current speed. */
export function uploadEta(it: UploadItem, now: number = Date.now()): number | undefined {
  const v = uploadSpeed(it, now);
  if (v === undefined || v <= 0 || it.phase !== 'uploading') return undefined;
  return Math.max(0, it.totalBytes - it.doneBytes) / v;
}

/** Progress, speed and time left over every upload still running (the summary above the list). */
export function queueSummary(items: readonly UploadItem[], now: number = Date.now()): { active: number; done: number; total: number; fraction: number; speed?: number; etaSeconds?: number } {
  const active = items.filter((i) => !FINISHED.has(i.phase));
  const total = active.reduce((s, i) => s + i.size, 0);
  const done = active.reduce((s, i) => s + overallProgress(i) * i.size, 0);
  const speeds = active.map((i) => uploadSpeed(i, now)).filter((v): v is number => v !== undefined);
  const speed = speeds.length > 0 ? speeds.reduce((a, b) => a + b, 0) : undefined;
  const left = active.reduce((s, i) => s + (i.phase === 'uploading' || i.phase === 'retrying' ? Math.max(0, i.totalBytes - i.doneBytes) : i.phase === 'committing' ? 0 : i.size), 0);
  return {
    active: active.length,
    done,
    total,
    fraction: total > 0 ? done / total : active.length > 0 ? 0 : 1,
    ...(speed !== undefined ? { speed } : {}),
    ...(speed !== undefined && speed > 0 ? { etaSeconds: left / speed } : {}),
  };
}

export function phaseLabel(it: UploadItem): string {
  // The percentage is the bar's own: hashing fills its first tenth, so the text never says 100% beside a short bar.
  const pct = `${Math.floor(overallProgress(it) * 100)}%`;
  switch (it.phase) {
    case 'queued': return 'Waiting';
    case 'hashing': return it.size > 0 ? `Checking the file ${pct}` : 'Checking the file';
    case 'uploading': return `Uploading ${pct}`;
    case 'committing': return 'Finishing';
    case 'retrying': return `${it.error ?? 'Connection problem'} Retrying${it.retryInMs ? ` in ${Math.ceil(it.retryInMs / 1000)} s` : ''}…`;
    case 'done': return 'Uploaded';
    case 'failed': return it.error ?? 'Failed';
    case 'cancelled': return 'Cancelled';
  }
}

// ---------------------------------------------------------------------------------------------
// Engine

export type UploadApi = Pick<Api, 'createUpload' | 'getUpload' | 'putChunk' | 'commitUpload' | 'abortUpload'>;

export interface EngineOptions {
  /** Chunk PUTs in flight at once. */
  concurrency?: number;
  /** Consecutive failures without progress before the upload is marked failed (it can be resumed). */
  maxAttempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /**
   * Resolves when the connection may be back (the browser's `online` event). A network error waits
   * for it or for the backoff, whichever comes first, and never uses up the attempts: an upload
   * outlives any time offline and goes on by itself.
   */
  online?: (signal: AbortSignal) => Promise<void>;
  /** Whether the browser thinks it is offline now. */
  isOffline?: () => boolean;
}

/** The next `online` event of the window (never resolves where there is no window). */
export function nextOnline(signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (typeof window === 'undefined') return;
    const done = () => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    };
    const onAbort = () => {
      window.removeEventListener('online', done);
      reject(signal.reason ?? new DOMException('Aborted', 'AbortError'));
    };
    window.addEventListener('online', done, { once: true });
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** What a run remembers between attempts, so a manual resume neither re-hashes nor re-declares. */
export interface UploadJob {
  id: string;
  name: string;
  blob: BlobLike;
  /** Replace exactly this version of an existing file (commit with If-Match; 412 if it changed). */
  ifMatch?: number;
  hashed?: HashedFile;
  uploadId?: string;
}

export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason ?? new DOMException('Aborted', 'AbortError'));
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal.reason ?? new DOMException('Aborted', 'AbortError'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Backoff for the n-th consecutive failure (1-based): exponential with jitter, or the server's Retry-After. */
export function backoffDelay(attempt: number, err: unknown, base = 500, max = 10_000, rand: () => number = Math.random): number {
  if (err instanceof ApiError && err.extra.retryAfterMs !== undefined) return Math.min(Math.max(err.extra.retryAfterMs, base), max * 3);
  const exp = Math.min(max, base * 2 ** (attempt - 1));
  return Math.round(exp / 2 + rand() * (exp / 2));
}

class Fatal extends Error {
  readonly retryable: boolean;
  readonly code: string | undefined;
  constructor(message: string, o: { retryable: boolean; code?: string }) {
    super(message);
    this.retryable = o.retryable;
    this.code = o.code;
  }
}

const codeOf = (err: unknown): string | undefined => (err instanceof ApiError ? err.code : undefined);

/**
 * Drive one upload to the end. Resolves when the file is committed; emits `failed` (resumable by
 * running the same job again) or `cancelled` when `signal` aborts. Never throws.
 */
export async function runUpload(job: UploadJob, api: UploadApi, emit: (ev: UploadEvent) => void, signal: AbortSignal, o: EngineOptions = {}): Promise<void> {
  const concurrency = o.concurrency ?? 4;
  const maxAttempts = o.maxAttempts ?? 6;
  const sleep = o.sleep ?? abortableSleep;
  let attempt = 0;

  /** Run `fn`, retrying retryable errors with backoff; non-retryable errors are fatal. */
  const withRetry = async <T>(fn: () => Promise<T>): Promise<T> => {
    for (;;) {
      try {
        return await fn();
      } catch (err) {
        await handleFailure(err);
      }
    }
  };
  const online = o.online ?? nextOnline;
  const isOffline = o.isOffline ?? (() => typeof navigator !== 'undefined' && navigator.onLine === false);
  let networkWaits = 0;
  const handleFailure = async (err: unknown): Promise<void> => {
    if (signal.aborted || isAbort(err)) throw err;
    if (!(err instanceof ApiError) || !err.retryable) throw new Fatal(errorMessage(err), { retryable: false, code: codeOf(err) });
    if (err.status === 0) {
      // No answer at all: wait for the network (the online event, or a capped backoff) for as long as it takes.
      networkWaits++;
      const delayMs = backoffDelay(Math.min(networkWaits, 6), err, o.baseDelayMs, o.maxDelayMs);
      const offline = isOffline();
      emit({ type: 'retrying', id: job.id, attempt: networkWaits, delayMs, error: offline ? 'Offline: the upload goes on when the connection returns.' : 'No connection to the server.' });
      const wake = new AbortController();
      const both = AbortSignal.any([signal, wake.signal]);
      try {
        await Promise.race([sleep(delayMs, both), online(both)]);
      } catch (e) {
        if (signal.aborted) throw e;
      } finally {
        wake.abort();
      }
      return;
    }
    networkWaits = 0;
    attempt++;
    if (attempt >= maxAttempts) throw new Fatal(`${err.message} (gave up after ${attempt} attempts; you can resume)`, { retryable: true, code: err.code });
    const delayMs = backoffDelay(attempt, err, o.baseDelayMs, o.maxDelayMs);
    emit({ type: 'retrying', id: job.id, attempt, delayMs, error: err.message });
    await sleep(delayMs, signal);
  };

  try {
    if (!job.hashed) {
      emit({ type: 'hashing', id: job.id, bytes: 0 });
      job.hashed = await hashBlob(job.blob, { signal, onProgress: (bytes) => emit({ type: 'hashing', id: job.id, bytes }) });
    }
    const hashed = job.hashed;
    const unique = pendingChunks(hashed.chunks, hashed.chunks.map((c) => c.hash));
    const totalBytes = unique.reduce((s, c) => s + c.size, 0);

    const declare = () =>
      api.createUpload({ name: job.name, size: hashed.size, sha256: hashed.sha256, chunks: hashed.chunks.map((c) => ({ hash: c.hash, size: c.size })) }, signal);

    let missing: string[];
    const resumed = job.uploadId !== undefined;
    if (job.uploadId) {
      const uploadId = job.uploadId;
      const s = await withRetry(async () => {
        try {
          return await api.getUpload(uploadId, signal);
        } catch (err) {
          // The session expired or was removed: declare the chunks again (those already stored are not missing).
          if (err instanceof ApiError && (err.status === 404 || err.status === 410)) return declare();
          throw err;
        }
      });
      job.uploadId = s.uploadId || uploadId;
      missing = s.missing;
    } else {
      const s = await withRetry(declare);
      job.uploadId = s.uploadId;
      missing = s.missing;
    }

    let firstRound = true;
    for (;;) {
      const todo = pendingChunks(unique, missing);
      const missingBytes = todo.reduce((s, c) => s + c.size, 0);
      emit({ type: 'session', id: job.id, uploadId: job.uploadId, totalBytes, doneBytes: totalBytes - missingBytes, resumed: resumed || firstRound === false });
      firstRound = false;
      if (todo.length === 0) break;

      let failure: unknown;
      let next = 0;
      const worker = async () => {
        while (failure === undefined && next < todo.length && !signal.aborted) {
          const c = todo[next++];
          if (!c) break;
          try {
            const bytes = await readChunk(job.blob, c);
            await api.putChunk(job.uploadId as string, c.hash, bytes, signal);
            attempt = 0;
            emit({ type: 'chunk-sent', id: job.id, bytes: c.size, at: Date.now() });
          } catch (err) {
            failure ??= err;
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, todo.length) }, worker));
      if (signal.aborted) throw signal.reason ?? new DOMException('Aborted', 'AbortError');
      if (failure === undefined) break;

      await handleFailure(failure);
      // Resume: ask the session which chunks it still lacks rather than trusting local bookkeeping.
      const uploadId = job.uploadId;
      missing = (await withRetry(() => api.getUpload(uploadId, signal))).missing;
    }

    emit({ type: 'committing', id: job.id });
    const uploadId = job.uploadId;
    const file = await withRetry(() => api.commitUpload(uploadId, { signal, ...(job.ifMatch !== undefined ? { ifMatch: job.ifMatch } : {}) }));
    emit({ type: 'done', id: job.id, file });
  } catch (err) {
    if (signal.aborted || isAbort(err)) {
      emit({ type: 'cancelled', id: job.id });
      if (job.uploadId) api.abortUpload(job.uploadId).catch(() => undefined);
      return;
    }
    const code = err instanceof Fatal ? err.code : codeOf(err);
    emit({ type: 'failed', id: job.id, error: err instanceof Fatal ? err.message : errorMessage(err), retryable: err instanceof Fatal && err.retryable, ...(code ? { code } : {}) });
  }
}

// ---------------------------------------------------------------------------------------------
// Queue

export interface UploadQueueOptions extends EngineOptions {
  /** Files uploading at once. */
  parallelFiles?: number;
  onFileDone?: (file: FileSummary) => void;
}

/**
 * The list of uploads of this page: several files at once, each cancellable and resumable.
 * Framework-free; React subscribes with useSyncExternalStore.
 */
export class UploadQueue {
  private items: UploadItem[] = [];
  private readonly jobs = new Map<string, UploadJob>();
  private readonly controllers = new Map<string, AbortController>();
  private readonly listeners = new Set<() => void>();
  private seq = 0;

  constructor(private readonly api: UploadApi, private readonly opts: UploadQueueOptions = {}) {
    if (typeof window !== 'undefined') window.addEventListener('online', this.onOnline);
  }

  /** Back online: uploads that gave up on a retryable error go on by themselves. */
  private readonly onOnline = (): void => {
    for (const it of this.items) if (it.phase === 'failed' && it.retryable) this.resume(it.id);
  };

  /** Stop listening to the window (the page that owns the queue is gone). */
  dispose(): void {
    this.cancelAll();
    if (typeof window !== 'undefined') window.removeEventListener('online', this.onOnline);
  }

  subscribe = (fn: () => void): (() => void) => {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  };

  snapshot = (): UploadItem[] => this.items;

  add(files: readonly { name: string; blob: BlobLike; ifMatch?: number }[]): string[] {
    const ids: string[] = [];
    for (const f of files) {
      const id = `u${++this.seq}-${Date.now().toString(36)}`;
      this.jobs.set(id, { id, name: f.name, blob: f.blob, ...(f.ifMatch !== undefined ? { ifMatch: f.ifMatch } : {}) });
      this.dispatch({ type: 'add', id, name: f.name, size: f.blob.size });
      ids.push(id);
    }
    this.pump();
    return ids;
  }

  cancel(id: string): void {
    const c = this.controllers.get(id);
    if (c) c.abort(new DOMException('Cancelled', 'AbortError'));
    else this.dispatch({ type: 'cancelled', id });
  }

  /** Resume a failed upload where it stopped. */
  resume(id: string): void {
    this.dispatch({ type: 'requeue', id });
    this.pump();
  }

  dismiss(id: string): void {
    const it = this.items.find((i) => i.id === id);
    if (it && !FINISHED.has(it.phase)) return;
    this.jobs.delete(id);
    this.dispatch({ type: 'remove', id });
  }

  clearFinished(): void {
    for (const it of this.items) if (it.phase === 'done' || it.phase === 'cancelled') this.dismiss(it.id);
  }

  cancelAll(): void {
    for (const id of [...this.controllers.keys()]) this.cancel(id);
  }

  private dispatch(ev: UploadEvent): void {
    this.items = uploadReducer(this.items, ev);
    if (ev.type === 'done') this.opts.onFileDone?.(ev.file);
    for (const l of this.listeners) l();
  }

  private pump(): void {
    const limit = this.opts.parallelFiles ?? 2;
    for (const it of this.items) {
      if (this.controllers.size >= limit) break;
      if (it.phase !== 'queued' || this.controllers.has(it.id)) continue;
      const job = this.jobs.get(it.id);
      if (!job) continue;
      const ctl = new AbortController();
      this.controllers.set(it.id, ctl);
      void runUpload(job, this.api, (ev) => this.dispatch(ev), ctl.signal, this.opts).finally(() => {
        this.controllers.delete(it.id);
        this.pump();
      });
    }
  }
}
