/**
 * Downloads in the web app: one streamed response up to the Function URL limit, and above it the
 * manifest's presigned URLs, chunk by chunk (stored chunks encoded as the server stores them: a
 * 1-byte header, raw or deflate-raw), each verified before it is kept; failures retried once from a
 * fresh manifest of the same version.
 */
import { createHash, randomBytes } from 'node:crypto';
import { deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { createApi } from '../../web/src/api.js';
import { checkManifest, decodeStoredChunk, downloadFile, downloadTo, openFileSink, type ByteSink, type SaveFileHandle } from '../../web/src/download.js';
import { DOWNLOAD_TOKEN_HEADER, DOWNLOAD_TOO_LARGE, STREAM_MAX_BYTES } from '../../shared/downloads.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const raw = (b: Buffer) => Buffer.concat([Buffer.of(0), b]);
const deflated = (b: Buffer) => Buffer.concat([Buffer.of(1), deflateRawSync(b)]);

/** A file of three chunks: two raw, the middle one compressible and stored deflated (or `n` random chunks). */
function makeFile(n?: number) {
  const chunks = n === undefined ? [randomBytes(1000), Buffer.alloc(1500, 7), randomBytes(700)] : Array.from({ length: n }, (_, i) => randomBytes(900 + i * 13));
  const stored = [raw(chunks[0]!), deflated(chunks[1]!), raw(chunks[2]!)];
  const whole = Buffer.concat(chunks);
  let offset = 0;
  const entries = chunks.map((c, index) => {
    const e = { index, hash: sha(c), size: c.length, offset, compressed: n === undefined && index === 1, region: 'eu-west-1' };
    offset += c.length;
    return e;
  });
  return { chunks, stored: n === undefined ? stored : chunks.map(raw), whole, entries };
}

interface Call {
  url: string;
  headers: Record<string, string>;
}

/** A server: the API on the page's origin, presigned chunk URLs on an S3 host. */
function server(
  file: ReturnType<typeof makeFile>,
  o: { streamStatus?: number; streamDamaged?: boolean; brokenOnce?: number[]; corrupt?: number[]; corruptOnce?: number[]; noHolder?: number[]; hold?: (index: number, signal?: AbortSignal | null) => Promise<void> } = {},
) {
  const served: number[] = [];
  const damagedOnce = new Set(o.corruptOnce ?? []);
  const calls: Call[] = [];
  let manifests = 0;
  const brokenOnce = new Set(o.brokenOnce ?? []);
  const fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = new URL(String(input), 'https://app.example.com');
    calls.push({ url: url.toString(), headers: { ...((init?.headers as Record<string, string>) ?? {}) } });
    if (url.host === 'app.example.com' && url.pathname === '/api/v1/files/f1/download') {
      if (o.streamStatus === 413) {
        return Response.json({ success: false, error: { code: DOWNLOAD_TOO_LARGE, message: 'too large', manifest: '/api/v1/files/f1/manifest' } }, { status: 413 });
      }
      const body = o.streamDamaged ? Buffer.from(file.whole).fill(0, 10, 20) : file.whole;
      // Served in pieces, as a network delivers them.
      const pieces = new ReadableStream<Uint8Array>({
        start(c) {
          for (let i = 0; i < body.length; i += 512) c.enqueue(new Uint8Array(body.subarray(i, i + 512)));
          c.close();
        },
      });
      return new Response(pieces, {
        headers: { 'Content-Disposition': 'attachment; filename="small.bin"', 'Content-Length': String(body.length), ETag: `"${sha(file.whole)}.3"` },
      });
    }
    if (url.host === 'app.example.com' && url.pathname === '/api/v1/files/f1/manifest') {
      const generation = manifests++;
      return Response.json({
        success: true,
        data: {
          file_id: 'f1', name: 'big.bin', size: file.whole.length, version: 3, sha256: sha(file.whole), content_type: 'application/x-big', expires_in: 900,
          chunks: file.entries.map((e) => ({ ...e, url: o.noHolder?.includes(e.index) ? null : `https://b.s3.eu-west-1.amazonaws.com/chunks/u/${e.hash}?X-Amz-Signature=g${generation}` })),
        },
      });
    }
    if (url.host === 'b.s3.eu-west-1.amazonaws.com') {
      const index = file.entries.findIndex((e) => url.pathname.endsWith(e.hash));
      // An expired signature: only the first manifest's URL of this chunk fails.
      if (brokenOnce.has(index) && url.searchParams.get('X-Amz-Signature') === 'g0') return new Response('<Error>Request has expired</Error>', { status: 403 });
      await o.hold?.(index, init?.signal);
      if (o.corrupt?.includes(index)) return new Response(new Uint8Array(raw(Buffer.alloc(file.entries[index]!.size, 1))));
      if (damagedOnce.delete(index)) return new Response(new Uint8Array(raw(Buffer.alloc(file.entries[index]!.size, 1))));
      served.push(index);
      return new Response(new Uint8Array(file.stored[index]!));
    }
    return new Response('not found', { status: 404 });
  };
  return { fetch, calls, served, manifests: () => manifests };
}

const apiFor = (f: ReturnType<typeof server>) => createApi({ fetch: f.fetch, getToken: () => 'tok' });
const bytes = async (b: Blob) => Buffer.from(await b.arrayBuffer());

describe('web downloads', () => {
  it('takes a file within the stream limit as one streamed response, carrying the token in both headers', async () => {
    const file = makeFile();
    const s = server(file);
    const got = await downloadFile(apiFor(s), 'f1', { size: file.whole.length, fetch: s.fetch });
    expect(got.via).toBe('stream');
    expect((await bytes(got.blob)).equals(file.whole)).toBe(true);
    expect(s.calls.map((c) => new URL(c.url).pathname)).toEqual(['/api/v1/files/f1/download']);
    expect(s.calls[0]?.headers.Authorization).toBe('Bearer tok');
    expect(s.calls[0]?.headers[DOWNLOAD_TOKEN_HEADER]).toBe('Bearer tok');
  });

  it('fetches a file over the limit from the manifest’s presigned URLs, decoding raw and deflated chunks, never streaming it', async () => {
    const file = makeFile();
    const s = server(file);
    const progress: number[] = [];
    const got = await downloadFile(apiFor(s), 'f1', { size: STREAM_MAX_BYTES + 1, fetch: s.fetch, onProgress: (done) => progress.push(done) });
    expect(got.via).toBe('manifest');
    expect(got.filename).toBe('big.bin');
    expect(got.blob.type).toBe('application/x-big');
    expect((await bytes(got.blob)).equals(file.whole)).toBe(true);
    const paths = s.calls.map((c) => new URL(c.url).pathname);
    expect(paths).not.toContain('/api/v1/files/f1/download');
    expect(paths.filter((p) => p.startsWith('/chunks/'))).toHaveLength(3);
    // Presigned URLs carry their own signature: no token goes to S3.
    for (const c of s.calls.filter((x) => x.url.includes('amazonaws.com'))) {
      expect(c.headers.Authorization).toBeUndefined();
      expect(c.headers[DOWNLOAD_TOKEN_HEADER]).toBeUndefined();
    }
    expect(progress.at(-1)).toBe(file.whole.length);
  });

  it('falls back to the manifest when the stream endpoint refuses the size (413 download_too_large)', async () => {
    const file = makeFile();
    const s = server(file, { streamStatus: 413 });
    const got = await downloadFile(apiFor(s), 'f1', { fetch: s.fetch });
    expect(got.via).toBe('manifest');
    expect((await bytes(got.blob)).equals(file.whole)).toBe(true);
  });

  it('asks for a fresh manifest of the same version once when a URL has expired, and finishes', async () => {
    const file = makeFile();
    const s = server(file, { brokenOnce: [0, 2] });
    const got = await downloadFile(apiFor(s), 'f1', { size: STREAM_MAX_BYTES + 1, fetch: s.fetch, concurrency: 1 });
    expect((await bytes(got.blob)).equals(file.whole)).toBe(true);
    expect(s.manifests()).toBe(2);
    const refresh = s.calls.filter((c) => c.url.includes('/manifest'))[1];
    expect(new URL(refresh!.url).searchParams.get('version')).toBe('3');
  });

  it('refuses a chunk whose bytes do not match its SHA-256, after one fresh try, and saves nothing', async () => {
    const file = makeFile();
    const s = server(file, { corrupt: [1] });
    await expect(downloadFile(apiFor(s), 'f1', { size: STREAM_MAX_BYTES + 1, fetch: s.fetch })).rejects.toMatchObject({ code: 'corrupt_chunk', message: expect.stringContaining('Part 2') });
  });

  it('says a part has no reachable copy when no replica holding it answers', async () => {
    const file = makeFile();
    const s = server(file, { noHolder: [2] });
    await expect(downloadFile(apiFor(s), 'f1', { size: STREAM_MAX_BYTES + 1, fetch: s.fetch })).rejects.toMatchObject({ code: 'chunk_unavailable', status: 503 });
  });

  it('checks that the chunks tile the file exactly, and decodes both stored encodings', async () => {
    const m = { fileId: 'f', name: 'n', size: 10, version: 1, sha256: '', contentType: '', expiresIn: 1, chunks: [{ index: 0, hash: 'a'.repeat(64), size: 4, offset: 0, compressed: false, url: 'u' }] };
    expect(() => checkManifest(m)).toThrow(/add up to 4 bytes, the file is 10/);
    expect(() => checkManifest({ ...m, size: 4, chunks: [{ ...m.chunks[0]!, offset: 1 }] })).toThrow(/starts at 1/);
    const text = Buffer.from('hello hello hello hello');
    expect(Buffer.from(await decodeStoredChunk(new Uint8Array(deflated(text)))).equals(text)).toBe(true);
    expect(Buffer.from(await decodeStoredChunk(new Uint8Array(raw(text)))).equals(text)).toBe(true);
    await expect(decodeStoredChunk(new Uint8Array([7, 1, 2]))).rejects.toThrow(/unknown chunk encoding/);
  });
});

/** A sink that records each write, and whether it was closed or aborted. */
function recordingSink() {
  const writes: Buffer[] = [];
  const state = { closed: false, aborted: false };
  const sink: ByteSink = {
    write: async (b) => void writes.push(Buffer.from(b)),
    close: async () => void (state.closed = true),
    abort: async () => void (state.aborted = true),
  };
  return { sink, writes, state };
}

/**
 * A file handle as the File System Access API gives it: writes go to a temporary file that replaces
 * the file's content only on close; abort discards them; remove deletes the file.
 */
function fakeFileHandle() {
  const file = { exists: true, content: Buffer.alloc(0) };
  const log: string[] = [];
  let temp: Buffer[] = [];
  const handle: SaveFileHandle = {
    getFile: async () => ({ size: file.content.length }),
    remove: async () => {
      log.push('remove');
      file.exists = false;
    },
    createWritable: async () => ({
      write: async (b: Uint8Array) => void temp.push(Buffer.from(b)),
      close: async () => {
        log.push('close');
        file.content = Buffer.concat(temp);
      },
      abort: async () => {
        log.push('abort');
        temp = [];
      },
    }),
  };
  return { handle, file, log };
}

/** Resolves when `signal` aborts (a held response gives up with the request). */
const abortOf = (signal?: AbortSignal | null) =>
  new Promise<never>((_, reject) => signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')), { once: true }));

describe('downloads streamed to where they are saved', () => {
  it('writes chunks that arrive out of order to the file in order, holding no more than the chunks in flight, and reports progress', async () => {
    const file = makeFile(9);
    // The first chunk's answer is held until three later ones have been served.
    let releaseFirst: () => void = () => undefined;
    const firstHeld = new Promise<void>((r) => (releaseFirst = r));
    const s = server(file, {
      hold: async (index) => {
        if (index === 0) await firstHeld;
      },
    });
    const rec = recordingSink();
    const progress: number[] = [];
    const done = downloadTo(apiFor(s), 'f1', rec.sink, {
      size: STREAM_MAX_BYTES + 1,
      fetch: async (...a) => {
        const res = await s.fetch(...a);
        if (s.served.length === 3) releaseFirst();
        return res;
      },
      concurrency: 4,
      onProgress: (n) => progress.push(n),
    });
    const saved = await done;
    expect(saved).toMatchObject({ via: 'manifest', bytes: file.whole.length, filename: 'big.bin' });
    expect(s.served.slice(0, 4)).toEqual([1, 2, 3, 0]); // fetched out of order…
    expect(rec.writes.map((w) => sha(w))).toEqual(file.entries.map((e) => e.hash)); // …written in order
    expect(Buffer.concat(rec.writes).equals(file.whole)).toBe(true);
    expect(rec.state).toEqual({ closed: true, aborted: false });
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(progress.at(-1)).toBe(file.whole.length);
    expect(progress).toHaveLength(9);
  });

  it('refetches a chunk that arrives damaged (from a fresh manifest) and writes only verified bytes', async () => {
    const file = makeFile(4);
    const s = server(file, { corruptOnce: [2] });
    const rec = recordingSink();
    await downloadTo(apiFor(s), 'f1', rec.sink, { size: STREAM_MAX_BYTES + 1, fetch: s.fetch, concurrency: 2 });
    expect(Buffer.concat(rec.writes).equals(file.whole)).toBe(true);
    expect(s.manifests()).toBe(2);
    expect(s.calls.filter((c) => c.url.includes(file.entries[2]!.hash))).toHaveLength(2);
  });

  it('aborts the sink and writes nothing more when a chunk stays damaged', async () => {
    const file = makeFile(5);
    const s = server(file, { corrupt: [3] });
    const rec = recordingSink();
    await expect(downloadTo(apiFor(s), 'f1', rec.sink, { size: STREAM_MAX_BYTES + 1, fetch: s.fetch, concurrency: 1 })).rejects.toMatchObject({ code: 'corrupt_chunk' });
    expect(rec.writes).toHaveLength(3);
    expect(rec.state).toEqual({ closed: false, aborted: true });
  });

  it('cancel aborts the file being written: no partial content is kept and the new empty file is removed', async () => {
    const file = makeFile(6);
    const ctl = new AbortController();
    // Chunks from the fourth on are held until the request is cancelled.
    const s = server(file, { hold: async (index, signal) => (index >= 3 ? abortOf(signal) : undefined) });
    const fh = fakeFileHandle();
    const sink = await openFileSink(fh.handle);
    const progress: number[] = [];
    const run = downloadTo(apiFor(s), 'f1', sink, {
      size: STREAM_MAX_BYTES + 1,
      fetch: s.fetch,
      signal: ctl.signal,
      concurrency: 2,
      onProgress: (n) => {
        progress.push(n);
        if (progress.length === 2) ctl.abort(new DOMException('Cancelled', 'AbortError'));
      },
    });
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
    expect(progress).toHaveLength(2);
    expect(fh.log).toEqual(['abort', 'remove']);
    expect(fh.file).toEqual({ exists: false, content: Buffer.alloc(0) });
  });

  it('streams a small file piece by piece into the file, checked whole against the SHA-256 of its ETag', async () => {
    const file = makeFile(3);
    const s = server(file);
    const fh = fakeFileHandle();
    const progress: number[] = [];
    const saved = await downloadTo(apiFor(s), 'f1', await openFileSink(fh.handle), { size: file.whole.length, onProgress: (n) => progress.push(n) });
    expect(saved).toMatchObject({ via: 'stream', bytes: file.whole.length, filename: 'small.bin' });
    expect(fh.log).toEqual(['close']);
    expect(fh.file.content.equals(file.whole)).toBe(true);
    expect(progress.length).toBeGreaterThan(3); // one report per piece, not one at the end
    expect(progress.at(-1)).toBe(file.whole.length);
  });

  it('discards a streamed file whose bytes do not match its SHA-256', async () => {
    const file = makeFile(3);
    const s = server(file, { streamDamaged: true });
    const fh = fakeFileHandle();
    await expect(downloadTo(apiFor(s), 'f1', await openFileSink(fh.handle), { size: file.whole.length })).rejects.toMatchObject({ code: 'corrupt_chunk' });
    expect(fh.log).toEqual(['abort', 'remove']);
    expect(fh.file.exists).toBe(false);
  });

  it('keeps an existing file the download was to replace when it fails (only the new content is discarded)', async () => {
    const file = makeFile(3);
    const s = server(file, { streamDamaged: true });
    const fh = fakeFileHandle();
    fh.file.content = Buffer.from('the old content');
    await expect(downloadTo(apiFor(s), 'f1', await openFileSink(fh.handle), { size: file.whole.length })).rejects.toMatchObject({ code: 'corrupt_chunk' });
    expect(fh.log).toEqual(['abort']);
    expect(fh.file.content.toString()).toBe('the old content');
  });
});
