import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { ApiError, type FileSummary } from '../../web/src/api.js';
import { backoffDelay, overallProgress, phaseLabel, runUpload, UploadQueue, uploadEta, uploadProgress, uploadReducer, uploadSpeed, type UploadApi, type UploadEvent, type UploadItem } from '../../web/src/upload.js';

const MiB = 1024 * 1024;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** An in-memory chunk-session server with scriptable failures. */
function fakeServer(opts: { failPuts?: number[]; failPutStatus?: number; present?: string[] } = {}) {
  const stored = new Map<string, Uint8Array>(opts.present?.map((h) => [h, new Uint8Array()]) ?? []);
  const sessions = new Map<string, { hashes: string[]; sizes: number[]; sha256: string; name: string }>();
  let putCount = 0;
  const putLog: string[] = [];
  const committed: { name: string; bytes: Uint8Array }[] = [];
  const missingOf = (id: string) => [...new Set(sessions.get(id)?.hashes ?? [])].filter((h) => !stored.has(h));
  const api: UploadApi = {
    async createUpload(input) {
      const id = `s${sessions.size + 1}`;
      sessions.set(id, { hashes: input.chunks.map((c) => c.hash), sizes: input.chunks.map((c) => c.size), sha256: input.sha256, name: input.name });
      return { uploadId: id, missing: missingOf(id) };
    },
    async getUpload(id) {
      if (!sessions.has(id)) throw new ApiError(404, 'not_found', 'No such upload.');
      return { uploadId: id, missing: missingOf(id) };
    },
    async putChunk(_id, hash, bytes) {
      putCount++;
      if (opts.failPuts?.includes(putCount)) {
        if (opts.failPutStatus) throw new ApiError(opts.failPutStatus, 'bad', 'Chunk rejected.');
        throw new ApiError(0, 'network_error', 'Cannot reach the EchoFS server.');
      }
      const b = new Uint8Array(bytes);
      if (sha(b) !== hash) throw new ApiError(400, 'hash_mismatch', 'Hash mismatch.');
      stored.set(hash, b);
      putLog.push(hash);
    },
    async commitUpload(id) {
      const s = sessions.get(id);
      if (!s) throw new ApiError(404, 'not_found', 'No such upload.');
      if (missingOf(id).length) throw new ApiError(409, 'incomplete', 'Chunks missing.');
      const bytes = new Uint8Array(s.sizes.reduce((a, b) => a + b, 0));
      let o = 0;
      for (const h of s.hashes) {
        bytes.set(stored.get(h) ?? new Uint8Array(), o);
        o += stored.get(h)?.length ?? 0;
      }
      committed.push({ name: s.name, bytes });
      return { id: 'f1', name: s.name, size: bytes.length, uploadedAt: '', version: 1, chunks: s.hashes.length } satisfies FileSummary;
    },
    async abortUpload(id) {
      sessions.delete(id);
    },
  };
  return { api, stored, putLog, committed, sessions };
}

const noSleep = async () => undefined;

function collect() {
  const events: UploadEvent[] = [];
  let items: UploadItem[] = [];
  return {
    events,
    emit: (ev: UploadEvent) => {
      events.push(ev);
      items = uploadReducer(items.length ? items : [{ id: 'j', name: 'x', size: 0, phase: 'queued', hashedBytes: 0, totalBytes: 0, doneBytes: 0, attempt: 0 }], ev);
    },
    item: () => items[0] as UploadItem,
  };
}

function randomBytes(n: number, seed = 1): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

describe('runUpload', () => {
  it('uploads a 3.5 MiB file as 4 chunks, commits byte-exact and ends at 100%', async () => {
    const data = randomBytes(3.5 * MiB);
    const srv = fakeServer();
    const c = collect();
    await runUpload({ id: 'j', name: 'big.bin', blob: new Blob([data]) }, srv.api, c.emit, new AbortController().signal, { sleep: noSleep });
    expect(c.item().phase).toBe('done');
    expect(uploadProgress(c.item())).toBe(1);
    expect(srv.putLog).toHaveLength(4);
    expect(sha(srv.committed[0]?.bytes ?? new Uint8Array())).toBe(sha(data));
    expect(c.events.filter((e) => e.type === 'chunk-sent')).toHaveLength(4);
  });

  it('after a network error, asks the session what is missing and sends only that', async () => {
    const data = randomBytes(5 * MiB, 7);
    const srv = fakeServer({ failPuts: [2, 3] });
    const c = collect();
    await runUpload({ id: 'j', name: 'r.bin', blob: new Blob([data]) }, srv.api, c.emit, new AbortController().signal, { sleep: noSleep, concurrency: 1 });
    expect(c.item().phase).toBe('done');
    expect(c.events.some((e) => e.type === 'retrying')).toBe(true);
    // Every chunk was stored exactly once: nothing already held was sent again.
    expect(srv.putLog).toHaveLength(5);
    expect(new Set(srv.putLog).size).toBe(5);
    expect(sha(srv.committed[0]?.bytes ?? new Uint8Array())).toBe(sha(data));
  });

  it('sends no chunk the server already holds (dedupe) and still commits', async () => {
    const data = randomBytes(2 * MiB, 3);
    const srv = fakeServer({ present: [sha(data.subarray(0, MiB)), sha(data.subarray(MiB))] });
    const c = collect();
    await runUpload({ id: 'j', name: 'd.bin', blob: new Blob([data]) }, srv.api, c.emit, new AbortController().signal, { sleep: noSleep });
    expect(srv.putLog).toHaveLength(0);
    expect(c.item().phase).toBe('done');
  });

  it('marks the upload failed on a non-retryable error and a second run resumes it without re-hashing', async () => {
    const data = randomBytes(2 * MiB, 5);
    const srv = fakeServer({ failPuts: [1], failPutStatus: 413 });
    const c = collect();
    const job = { id: 'j', name: 'f.bin', blob: new Blob([data]) };
    await runUpload(job, srv.api, c.emit, new AbortController().signal, { sleep: noSleep, concurrency: 1 });
    expect(c.item().phase).toBe('failed');
    expect(c.item().error).toBe('Chunk rejected.');
    const hashingBefore = c.events.filter((e) => e.type === 'hashing').length;
    c.emit({ type: 'requeue', id: 'j' });
    await runUpload(job, srv.api, c.emit, new AbortController().signal, { sleep: noSleep });
    expect(c.item().phase).toBe('done');
    expect(c.events.filter((e) => e.type === 'hashing').length).toBe(hashingBefore);
    expect(srv.sessions.size).toBe(1);
    expect(sha(srv.committed[0]?.bytes ?? new Uint8Array())).toBe(sha(data));
  });

  it('gives up after maxAttempts consecutive 503s with a friendly, resumable failure', async () => {
    const srv = fakeServer({ failPuts: [1, 2, 3, 4, 5, 6, 7, 8], failPutStatus: 503 });
    const c = collect();
    await runUpload({ id: 'j', name: 'g.bin', blob: new Blob([randomBytes(10)]) }, srv.api, c.emit, new AbortController().signal, { sleep: noSleep, maxAttempts: 3, online: () => new Promise(() => undefined) });
    expect(c.item().phase).toBe('failed');
    expect(c.item().error).toMatch(/gave up after 3 attempts/);
    expect(c.item().retryable).toBe(true);
  });

  it('never gives up on network errors: it waits for the connection and finishes by itself, saying it is offline meanwhile', async () => {
    const srv = fakeServer({ failPuts: [1, 2, 3, 4, 5, 6, 7, 8] });
    const c = collect();
    await runUpload({ id: 'j', name: 'n.bin', blob: new Blob([randomBytes(10)]) }, srv.api, c.emit, new AbortController().signal, {
      sleep: () => new Promise(() => undefined), // only the online event wakes the upload
      online: async () => undefined,
      isOffline: () => true,
      maxAttempts: 3,
    });
    expect(c.item().phase).toBe('done');
    expect(srv.committed).toHaveLength(1);
    const waits = c.events.filter((e): e is Extract<UploadEvent, { type: 'retrying' }> => e.type === 'retrying');
    expect(waits).toHaveLength(8);
    expect(waits[0]?.error).toMatch(/^Offline: the upload goes on when the connection returns/);
  });

  it('says why a resumed upload starts part-way, and measures speed and time left from the bytes actually sent', () => {
    let items = uploadReducer([], { type: 'add', id: 'a', name: 'a', size: 100 });
    items = uploadReducer(items, { type: 'session', id: 'a', uploadId: 's', totalBytes: 100, doneBytes: 0 });
    items = uploadReducer(items, { type: 'chunk-sent', id: 'a', bytes: 20, at: 1000 });
    items = uploadReducer(items, { type: 'session', id: 'a', uploadId: 's', totalBytes: 100, doneBytes: 20, resumed: true });
    expect(items[0]?.note).toBe('Resumed at 20%: the server kept the parts sent before the interruption.');
    items = uploadReducer(items, { type: 'chunk-sent', id: 'a', bytes: 20, at: 3000 });
    const it0 = items[0] as UploadItem;
    expect(uploadSpeed(it0, 3000)).toBe(10); // 20 bytes in the 2 s after the first sample
    expect(uploadEta(it0, 3000)).toBe(6); // 60 bytes left at 10 B/s
    expect(phaseLabel(it0)).toBe('Uploading 46%'); // the bar's own share: 10% hashing + 90% × 40%

    let dedupe = uploadReducer([], { type: 'add', id: 'b', name: 'b', size: 100 });
    dedupe = uploadReducer(dedupe, { type: 'session', id: 'b', uploadId: 't', totalBytes: 100, doneBytes: 30 });
    expect(dedupe[0]?.note).toMatch(/^Starting at 30%: the server already holds 30% of this content/);
  });

  it('labels hashing with the bar’s percentage, never “100%” beside a short bar', () => {
    let items = uploadReducer([], { type: 'add', id: 'a', name: 'a', size: 100 });
    items = uploadReducer(items, { type: 'hashing', id: 'a', bytes: 100 });
    const bar = Math.floor(overallProgress(items[0] as UploadItem) * 100);
    expect(bar).toBe(10);
    expect(phaseLabel(items[0] as UploadItem)).toBe('Checking the file 10%');
  });

  it('cancels: stops sending, reports cancelled and discards the session', async () => {
    const srv = fakeServer();
    const ctl = new AbortController();
    const c = collect();
    const api: UploadApi = {
      ...srv.api,
      putChunk: async (...a) => {
        ctl.abort(new DOMException('Cancelled', 'AbortError'));
        await srv.api.putChunk(...a);
      },
    };
    await runUpload({ id: 'j', name: 'c.bin', blob: new Blob([randomBytes(3 * MiB)]) }, api, c.emit, ctl.signal, { sleep: noSleep, concurrency: 1 });
    expect(c.item().phase).toBe('cancelled');
    await new Promise((r) => setTimeout(r, 0));
    expect(srv.sessions.size).toBe(0);
    expect(srv.committed).toHaveLength(0);
  });
});

describe('upload state', () => {
  it('ignores progress for finished uploads and only requeues failed ones', () => {
    let items = uploadReducer([], { type: 'add', id: 'a', name: 'a', size: 10 });
    items = uploadReducer(items, { type: 'session', id: 'a', uploadId: 's', totalBytes: 10, doneBytes: 4 });
    expect(uploadProgress(items[0] as UploadItem)).toBeCloseTo(0.4);
    items = uploadReducer(items, { type: 'cancelled', id: 'a' });
    items = uploadReducer(items, { type: 'chunk-sent', id: 'a', bytes: 6 });
    expect(items[0]).toMatchObject({ phase: 'cancelled', doneBytes: 4 });
    items = uploadReducer(items, { type: 'requeue', id: 'a' });
    expect(items[0]?.phase).toBe('cancelled');
  });

  it('gives one bar that only moves forward through hashing, transfer and commit', () => {
    const events: UploadEvent[] = [
      { type: 'hashing', id: 'a', bytes: 0 },
      { type: 'hashing', id: 'a', bytes: 50 },
      { type: 'hashing', id: 'a', bytes: 100 },
      { type: 'session', id: 'a', uploadId: 's', totalBytes: 100, doneBytes: 0 },
      { type: 'chunk-sent', id: 'a', bytes: 60 },
      { type: 'retrying', id: 'a', attempt: 1, delayMs: 10, error: 'x' },
      { type: 'session', id: 'a', uploadId: 's', totalBytes: 100, doneBytes: 60 },
      { type: 'chunk-sent', id: 'a', bytes: 40 },
      { type: 'committing', id: 'a' },
      { type: 'done', id: 'a', file: { id: 'f', name: 'a', size: 100, uploadedAt: '', version: 1, chunks: 1 } },
    ];
    let items = uploadReducer([], { type: 'add', id: 'a', name: 'a', size: 100 });
    const seen = [overallProgress(items[0] as UploadItem)];
    for (const ev of events) {
      items = uploadReducer(items, ev);
      seen.push(overallProgress(items[0] as UploadItem));
    }
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    expect(seen[0]).toBe(0);
    expect(seen.at(-1)).toBe(1);
  });

  it('backs off exponentially, capped, and honours Retry-After', () => {
    const mid = () => 0.5;
    expect(backoffDelay(1, new Error(), 500, 10_000, mid)).toBe(375);
    expect(backoffDelay(3, new Error(), 500, 10_000, mid)).toBe(1500);
    expect(backoffDelay(20, new Error(), 500, 10_000, mid)).toBe(7500);
    expect(backoffDelay(1, new ApiError(503, 'u', 'x', { retryAfterMs: 4000 }))).toBe(4000);
  });

  it('the queue uploads several files, at most two at a time, and reports each committed file', async () => {
    const srv = fakeServer();
    const done: string[] = [];
    const q = new UploadQueue(srv.api, { sleep: noSleep, onFileDone: (f) => done.push(f.name) });
    let maxActive = 0;
    q.subscribe(() => {
      const active = q.snapshot().filter((i) => ['hashing', 'uploading', 'committing'].includes(i.phase)).length;
      maxActive = Math.max(maxActive, active);
    });
    q.add([1, 2, 3].map((n) => ({ name: `f${n}.bin`, blob: new Blob([randomBytes(1000 * n, n)]) })));
    await expect.poll(() => q.snapshot().every((i) => i.phase === 'done'), { timeout: 5000 }).toBe(true);
    expect(done.sort()).toEqual(['f1.bin', 'f2.bin', 'f3.bin']);
    expect(maxActive).toBeLessThanOrEqual(2);
    q.clearFinished();
    expect(q.snapshot()).toEqual([]);
  });
});
