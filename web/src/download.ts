/**
 * Downloads in the browser. A file up to STREAM_MAX_BYTES comes in one streamed response from the
 * download route. A larger one cannot (a Lambda Function URL streams at most 200 MB per response):
 * it is fetched chunk by chunk, several at once, from the presigned replica URLs of its manifest,
 * each chunk decoded (1-byte codec header: 0 raw, 1 deflate-raw) and checked against its size and
 * SHA-256 before it is kept. A chunk that fails (an expired URL, an unreachable replica, a bad
 * copy) is fetched once more from a fresh manifest, which names the best holder at that moment.
 */
import { DOWNLOAD_TOO_LARGE, STREAM_MAX_BYTES } from '../../shared/downloads.js';
import { ApiError, isAbort, type Api, type Manifest, type ManifestChunk } from './api.js';
import { toHex } from './sha256.js';

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
  /** Bytes received so far and in total (manifest downloads). */
  onProgress?: (done: number, total: number) => void;
}

export interface Downloaded {
  blob: Blob;
  filename?: string;
  /** How the bytes came: one streamed response, or chunks from the manifest's presigned URLs. */
  via: 'stream' | 'manifest';
}

/** A file's bytes by the route its size allows (see the module comment). */
export async function downloadFile(api: Api, fileId: string, o: DownloadOptions = {}): Promise<Downloaded> {
  const limit = o.streamLimit ?? STREAM_MAX_BYTES;
  if (o.size === undefined || o.size <= limit) {
    try {
      return { ...(await api.download(fileId, o.version, o.signal)), via: 'stream' };
    } catch (err) {
      // The server knows the size better (the file may have grown since it was listed).
      if (!(err instanceof ApiError && err.status === 413 && err.code === DOWNLOAD_TOO_LARGE)) throw err;
    }
  }
  return { ...(await downloadFromManifest(api, fileId, o)), via: 'manifest' };
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

/** Every chunk from the manifest's presigned URLs, verified, assembled in order. */
export async function downloadFromManifest(api: Api, fileId: string, o: DownloadOptions = {}): Promise<{ blob: Blob; filename?: string }> {
  const doFetch = o.fetch ?? ((...a: Parameters<typeof fetch>) => globalThis.fetch(...a));
  // Cancelled by the caller, or by the first chunk that fails for good (the others stop too).
  const stop = new AbortController();
  const cancel = () => stop.abort(o.signal?.reason);
  if (o.signal?.aborted) cancel();
  o.signal?.addEventListener('abort', cancel, { once: true });
  const signal = stop.signal;
  try {
    return await fromManifest(api, fileId, o, doFetch, signal, stop);
  } finally {
    o.signal?.removeEventListener('abort', cancel);
  }
}

async function fromManifest(
  api: Api,
  fileId: string,
  o: DownloadOptions,
  doFetch: typeof fetch,
  signal: AbortSignal,
  stop: AbortController,
): Promise<{ blob: Blob; filename?: string }> {
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
      if (isAbort(err)) throw err;
      const fresh = await refresh(used.generation);
      const again = fresh.manifest.chunks[index]!;
      if (again.hash !== first.chunks[index]!.hash) throw invalid(`chunk ${index} changed while it was downloaded`);
      return fetchChunk(doFetch, again, signal);
    }
  };

  const chunks = first.chunks;
  // Each verified chunk becomes a Blob at once, so the browser may keep it out of the JS heap.
  const parts: Blob[] = new Array<Blob>(chunks.length);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < chunks.length && !signal.aborted) {
      const index = next++;
      try {
        const plain = await fetchOne(index);
        parts[index] = new Blob([plain as Uint8Array<ArrayBuffer>]);
        done += plain.length;
        o.onProgress?.(done, first.size);
      } catch (err) {
        stop.abort(err);
        throw err;
      }
    }
  };
  const workers = Array.from({ length: Math.max(1, Math.min(o.concurrency ?? 4, chunks.length)) }, worker);
  await Promise.all(workers);
  if (signal.aborted) throw signal.reason ?? new DOMException('Aborted', 'AbortError');
  return { blob: new Blob(parts, { type: first.contentType }), ...(first.name ? { filename: first.name } : {}) };
}
