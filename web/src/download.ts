/**
 * Downloads in the browser, streamed to where they are saved: the bytes go to a ByteSink in file
 * order as they arrive, and are never assembled whole in the page.
 *
 * A file up to STREAM_MAX_BYTES comes in one streamed response from the download route; each piece
 * is written as it arrives and the whole is checked against the version's SHA-256 (its ETag) before
 * the sink is closed. A larger one cannot (a Lambda Function URL streams at most 200 MB per
 * response): it is fetched chunk by chunk, several at once, from the presigned replica URLs of its
 * manifest, each chunk decoded (1-byte codec header: 0 raw, 1 deflate-raw) and checked against its
 * size and SHA-256, then written in order (a chunk that arrives early waits for its turn, so at
 * most `concurrency` chunks are held). A chunk that fails (an expired URL, an unreachable replica,
 * a bad copy) is fetched once more from a fresh manifest, which names the best holder at that
 * moment. Any failure or a cancel aborts the sink, which keeps no partial file.
 *
 * The sink is a file chosen with the File System Access API (openFileSink, Chromium). Where that API
 * is missing (Firefox, Safari), the page does not download at all: it asks for a short-lived signed
 * link (Api.downloadLink) and hands it to the browser's own download manager (startBrowserDownload),
 * which streams the file to disk.
 */
import { DOWNLOAD_TOO_LARGE, STREAM_MAX_BYTES } from '../../shared/downloads.js';
import { ApiError, isAbort, type Api, type Manifest, type ManifestChunk } from './api.js';
import { Sha256, toHex } from './sha256.js';

export interface DownloadOptions {
  /** A version other than the current one. */
  version?: number;
  /** Size of what is downloaded, when known: above the stream limit the manifest is used at once. */
  size?: number;
  signal?: AbortSignal;
  /** Largest download taken as one streamed response (default STREAM_MAX_BYTES). */
  streamLimit?: number;
  /** Chunks fetched at once from the replicas (default 4). */
  concurrency?: number;
  /** Fetch for the presigned URLs (default the global fetch; no credentials are sent). */
  fetch?: typeof fetch;
  /** Bytes written so far and in total (0 when the total is not known yet). */
  onProgress?: (done: number, total: number) => void;
}

/** Where a download's bytes go, in file order. Closed once every byte is verified; aborted otherwise. */
export interface ByteSink {
  write(bytes: Uint8Array): Promise<void>;
  close(): Promise<void>;
  /** Give up: nothing of what was written may be kept. */
  abort(reason?: unknown): Promise<void>;
}

export interface Saved {
  filename?: string;
  /** How the bytes came: one streamed response, or chunks from the manifest's presigned URLs. */
  via: 'stream' | 'manifest';
  bytes: number;
  contentType?: string;
}

export interface Downloaded {
  blob: Blob;
  filename?: string;
  via: 'stream' | 'manifest';
}

/**
 * Download a file into `sink` by the route its size allows (see the module comment); the sink is
 * closed when every byte is written and verified, and aborted on any failure or cancel.
 */
export async function downloadTo(api: Api, fileId: string, sink: ByteSink, o: DownloadOptions = {}): Promise<Saved> {
  let saved: Saved;
  // A failure to write (a full disk, a file removed meanwhile) is said as such, not as a network error.
  const writes: ByteSink = {
    ...sink,
    write: (bytes) =>
      sink.write(bytes).catch((err: unknown) => {
        throw isAbort(err) || err instanceof ApiError ? err : new ApiError(0, 'save_failed', 'The file could not be written where it is being saved (the disk may be full). Nothing was kept.');
      }),
  };
  try {
    saved = await fetchInto(api, fileId, writes, o);
  } catch (err) {
    await sink.abort(err).catch(() => undefined);
    throw err;
  }
  await sink.close();
  return saved;
}

async function fetchInto(api: Api, fileId: string, sink: ByteSink, o: DownloadOptions): Promise<Saved> {
  const limit = o.streamLimit ?? STREAM_MAX_BYTES;
  if (o.size === undefined || o.size <= limit) {
    try {
      return await streamInto(api, fileId, sink, o);
    } catch (err) {
      // The server knows the size better (the file may have grown since it was listed).
      if (!(err instanceof ApiError && err.status === 413 && err.code === DOWNLOAD_TOO_LARGE)) throw err;
    }
  }
  return manifestInto(api, fileId, sink, o);
}

/** What `run` writes, as one Blob (small files, and callers that need the bytes themselves). */
async function asBlob(run: (sink: ByteSink) => Promise<Saved>): Promise<Downloaded> {
  const parts: Blob[] = [];
  const sink: ByteSink = {
    write: async (b) => void parts.push(new Blob([b as Uint8Array<ArrayBuffer>])),
    close: async () => undefined,
    abort: async () => void parts.splice(0),
  };
  const saved = await run(sink);
  return { blob: new Blob(parts, saved.contentType ? { type: saved.contentType } : {}), via: saved.via, ...(saved.filename ? { filename: saved.filename } : {}) };
}

/** A file's bytes as one Blob, by the route its size allows. */
export function downloadFile(api: Api, fileId: string, o: DownloadOptions = {}): Promise<Downloaded> {
  return asBlob((sink) => downloadTo(api, fileId, sink, o));
}

/** A file's bytes as one Blob, chunk by chunk from the manifest's presigned URLs. */
export function downloadFromManifest(api: Api, fileId: string, o: DownloadOptions = {}): Promise<Downloaded> {
  return asBlob(async (sink) => {
    try {
      const saved = await manifestInto(api, fileId, sink, o);
      await sink.close();
      return saved;
    } catch (err) {
      await sink.abort(err);
      throw err;
    }
  });
}

/** One streamed response, written piece by piece and checked whole against the version's SHA-256. */
async function streamInto(api: Api, fileId: string, sink: ByteSink, o: DownloadOptions): Promise<Saved> {
  const res = await api.openDownload(fileId, o.version, o.signal);
  const total = res.size ?? o.size ?? 0;
  const hash = new Sha256();
  let done = 0;
  if (res.body) {
    const reader = res.body.getReader();
    const read = async () => {
      try {
        return await reader.read();
      } catch (err) {
        if (isAbort(err)) throw err;
        if (o.signal?.aborted) throw o.signal.reason ?? err;
        throw new ApiError(0, 'network_error', 'The download was cut off before the whole file arrived. Try again.');
      }
    };
    try {
      for (;;) {
        const { done: end, value } = await read();
        if (end) break;
        if (!value || value.length === 0) continue;
        hash.update(value);
        await sink.write(value);
        done += value.length;
        o.onProgress?.(done, total);
      }
    } catch (err) {
      await reader.cancel().catch(() => undefined);
      throw err;
    }
  }
  if (res.size !== undefined && done !== res.size) throw new ApiError(0, 'corrupt_chunk', `The file arrived with ${done} bytes instead of ${res.size}.`);
  if (res.sha256 && hash.hex() !== res.sha256) throw new ApiError(0, 'corrupt_chunk', 'The file arrived damaged (its SHA-256 differs).');
  o.onProgress?.(done, total || done);
  return { via: 'stream', bytes: done, ...(res.filename ? { filename: res.filename } : {}), ...(res.contentType ? { contentType: res.contentType } : {}) };
}

const invalid = (why: string) => new ApiError(200, 'invalid_response', `The server sent a manifest the app cannot use: ${why}.`);

/** The chunks must tile the file exactly, in order. */
export function checkManifest(m: Manifest): void {
  let offset = 0;
  m.chunks.forEach((c, i) => {
    if (c.index !== i) throw invalid(`chunk ${i} is numbered ${c.index}`);
    if (c.offset !== offset) throw invalid(`chunk ${i} starts at ${c.offset}, not ${offset}`);
    if (!Number.isSafeInteger(c.size) || c.size <= 0) throw invalid(`chunk ${i} has no size`);
    if (!/^[0-9a-f]{64}$/.test(c.hash)) throw invalid(`chunk ${i} has no SHA-256`);
    offset += c.size;
  });
  if (offset !== m.size) throw invalid(`its chunks add up to ${offset} bytes, the file is ${m.size}`);
}

/** The plaintext of a stored chunk: a 1-byte header (0 raw, 1 deflate-raw), then the bytes. */
export async function decodeStoredChunk(stored: Uint8Array): Promise<Uint8Array> {
  const body = stored.subarray(1);
  if (stored[0] === 0) return body;
  if (stored[0] !== 1) throw new Error(`unknown chunk encoding ${String(stored[0])}`);
  const inflated = new Response(body as Uint8Array<ArrayBuffer>).body!.pipeThrough(new DecompressionStream('deflate-raw'));
  return new Uint8Array(await new Response(inflated).arrayBuffer());
}

async function fetchChunk(doFetch: typeof fetch, c: ManifestChunk, signal: AbortSignal | undefined): Promise<Uint8Array> {
  if (!c.url) throw new ApiError(503, 'chunk_unavailable', `Part ${c.index + 1} of the file has no reachable copy right now. Try again shortly.`);
  let res: Response;
  try {
    // The URL's signature is the authorisation: no token, no cookies.
    res = await doFetch(c.url, { signal, credentials: 'omit', cache: 'no-store' });
  } catch (err) {
    if (isAbort(err)) throw err;
    throw new ApiError(0, 'network_error', `Part ${c.index + 1} of the file could not be fetched from ${c.region ?? 'its replica'}.`);
  }
  if (!res.ok) throw new ApiError(res.status, 'chunk_fetch_failed', `Part ${c.index + 1} of the file could not be fetched (HTTP ${res.status}).`);
  let plain: Uint8Array;
  try {
    plain = await decodeStoredChunk(new Uint8Array(await res.arrayBuffer()));
  } catch (err) {
    if (isAbort(err)) throw err;
    throw new ApiError(0, 'corrupt_chunk', `Part ${c.index + 1} of the file arrived damaged.`);
  }
  if (plain.length !== c.size) throw new ApiError(0, 'corrupt_chunk', `Part ${c.index + 1} of the file arrived with ${plain.length} bytes instead of ${c.size}.`);
  const digest = await crypto.subtle.digest('SHA-256', plain as Uint8Array<ArrayBuffer>);
  if (toHex(digest) !== c.hash) throw new ApiError(0, 'corrupt_chunk', `Part ${c.index + 1} of the file arrived damaged (its SHA-256 differs).`);
  return plain;
}

/** Every chunk from the manifest's presigned URLs, verified, written to the sink in order. */
async function manifestInto(api: Api, fileId: string, sink: ByteSink, o: DownloadOptions): Promise<Saved> {
  const doFetch = o.fetch ?? ((...a: Parameters<typeof fetch>) => globalThis.fetch(...a));
  // Cancelled by the caller, or by the first chunk that fails for good (the others stop too).
  const stop = new AbortController();
  const cancel = () => stop.abort(o.signal?.reason);
  if (o.signal?.aborted) cancel();
  o.signal?.addEventListener('abort', cancel, { once: true });
  try {
    return await fromManifest(api, fileId, sink, o, doFetch, stop);
  } finally {
    o.signal?.removeEventListener('abort', cancel);
  }
}

const aborted = (signal: AbortSignal): unknown => signal.reason ?? new DOMException('Aborted', 'AbortError');

async function fromManifest(api: Api, fileId: string, sink: ByteSink, o: DownloadOptions, doFetch: typeof fetch, stop: AbortController): Promise<Saved> {
  const signal = stop.signal;
  const first = await api.manifest(fileId, o.version, signal);
  checkManifest(first);
  // The latest manifest and its generation; a chunk that failed with the latest one asks for a new
  // one (shared by every chunk failing meanwhile), pinned to the same version.
  let current = { manifest: first, generation: 0 };
  let refreshing: Promise<typeof current> | undefined;
  const refresh = (seen: number) => {
    if (current.generation > seen) return Promise.resolve(current);
    refreshing ??= api
      .manifest(fileId, first.version, signal)
      .then((m) => {
        checkManifest(m);
        if (m.size !== first.size || m.sha256 !== first.sha256) throw invalid('the version changed while it was downloaded');
        current = { manifest: m, generation: current.generation + 1 };
        return current;
      })
      .finally(() => {
        refreshing = undefined;
      });
    return refreshing;
  };

  const fetchOne = async (index: number): Promise<Uint8Array> => {
    const used = current;
    try {
      return await fetchChunk(doFetch, used.manifest.chunks[index]!, signal);
    } catch (err) {
      if (isAbort(err) || signal.aborted) throw err;
      const fresh = await refresh(used.generation);
      const again = fresh.manifest.chunks[index]!;
      if (again.hash !== first.chunks[index]!.hash) throw invalid(`chunk ${index} changed while it was downloaded`);
      return fetchChunk(doFetch, again, signal);
    }
  };

  // Chunks are written in order: a chunk fetched early waits until the one before it is written.
  const chunks = first.chunks;
  let written = 0;
  const waiting = new Map<number, () => void>();
  const turn = (index: number): Promise<void> =>
    index === written
      ? Promise.resolve()
      : new Promise<void>((resolve, reject) => {
          const onAbort = () => reject(aborted(signal));
          if (signal.aborted) return onAbort();
          signal.addEventListener('abort', onAbort, { once: true });
          waiting.set(index, () => {
            signal.removeEventListener('abort', onAbort);
            resolve();
          });
        });

  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < chunks.length && !signal.aborted) {
      const index = next++;
      try {
        const plain = await fetchOne(index);
        await turn(index);
        if (signal.aborted) throw aborted(signal);
        await sink.write(plain);
        written = index + 1;
        done += plain.length;
        o.onProgress?.(done, first.size);
        waiting.get(written)?.();
        waiting.delete(written);
      } catch (err) {
        stop.abort(err);
        throw err;
      }
    }
  };
  const workers = Array.from({ length: Math.max(1, Math.min(o.concurrency ?? 4, chunks.length)) }, worker);
  // The first failure is the one to report (the others only saw the abort it caused).
  const results = await Promise.allSettled(workers);
  if (signal.aborted) throw aborted(signal);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  if (first.size === 0) o.onProgress?.(0, 0);
  return { via: 'manifest', bytes: done, ...(first.name ? { filename: first.name } : {}), ...(first.contentType ? { contentType: first.contentType } : {}) };
}

// ---------------------------------------------------------------------------------------------
// Sinks

/** The parts of a FileSystemWritableFileStream a download uses. */
export interface WritableFile {
  write(data: Uint8Array): Promise<void>;
  close(): Promise<void>;
  abort(reason?: unknown): Promise<void>;
}

/** The parts of a FileSystemFileHandle (File System Access API) a download uses. */
export interface SaveFileHandle {
  createWritable(options?: { keepExistingData?: boolean }): Promise<WritableFile>;
  getFile?(): Promise<{ size: number }>;
  /** Chromium: delete the file itself. */
  remove?(): Promise<void>;
}

export type SaveFilePicker = (options?: { suggestedName?: string }) => Promise<SaveFileHandle>;

/** The browser's save dialog of the File System Access API, where it exists (Chromium). */
export function saveFilePicker(): SaveFilePicker | undefined {
  if (typeof window === 'undefined') return undefined;
  const p = (window as unknown as { showSaveFilePicker?: SaveFilePicker }).showSaveFilePicker;
  return typeof p === 'function' ? p.bind(window) : undefined;
}

/**
 * A sink writing into a file chosen with the save dialog. The browser writes into a temporary file
 * that replaces the chosen one only on close; abort discards it, and a file the dialog had just
 * created (empty before the download) is removed as well, so a cancelled or failed download leaves
 * nothing behind.
 */
export async function openFileSink(handle: SaveFileHandle): Promise<ByteSink> {
  const wasEmpty = handle.getFile ? (await handle.getFile().then((f) => f.size === 0, () => false)) : false;
  const writable = await handle.createWritable({ keepExistingData: false });
  let open = true;
  return {
    write: (bytes) => writable.write(bytes),
    async close() {
      open = false;
      await writable.close();
    },
    async abort(reason) {
      if (!open) return;
      open = false;
      await writable.abort(reason).catch(() => undefined);
      if (wasEmpty) await handle.remove?.().catch(() => undefined);
    },
  };
}

/**
 * Hand a URL to the browser's own download manager (where the File System Access API is missing):
 * a hidden link with `download` is clicked, and the browser streams the answer to disk with its own
 * progress, never through the page. The URL is a signed download link (Api.downloadLink), since
 * the browser sends no bearer token.
 */
export function startBrowserDownload(url: string, name: string): void {
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.rel = 'noopener';
  a.hidden = true;
  document.body.appendChild(a);
  a.click();
  a.remove();
}
