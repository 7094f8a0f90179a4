/**
 * Downloads: resolve a version and stream its bytes (or a byte range) as verified chunks, the
 * next chunks read ahead (a bounded number in flight, in order) while one is consumed; or hand out the chunk list with presigned URLs on
 * the best replica holding each chunk, for parallel clients.
 */
import { Readable } from 'node:stream';
import type { ManifestRow, Placement } from '../catalog/repository.js';
import { CHUNK_SIZE, CorruptChunk } from './codec.js';
import type { ChunkReader } from './chunk-reader.js';
import type { EngineContext } from './context.js';
import { fileInfo, type Files } from './files.js';
import { chunkKey, type ModeDecision } from './ports.js';
import { PAGE, type FileInfo, type ManifestChunk, type OpenedRead, type PreparedRead, type ReadOptions } from './types.js';

/** Chunks a streamed download keeps in flight ahead of the one being sent. */
export const READ_AHEAD = 8;

/** A version's entity tag: its content hash and version number (a restore gives a new tag). */
export function entityTag(file: Pick<FileInfo, 'sha256' | 'version'>): string {
  return `"${file.sha256}.${file.version}"`;
}

export class Downloads {
  constructor(
    private readonly ctx: EngineContext,
    private readonly files: Files,
    private readonly reader: ChunkReader,
  ) {}

  /** Resolve a version and open a verified, streamed read of it (or of a byte range). */
  async openRead(ownerId: string, fileId: string, opts: ReadOptions = {}): Promise<OpenedRead> {
    const prepared = await this.prepare(ownerId, fileId, opts.version);
    return prepared.open(opts.range ? { range: opts.range } : {});
  }

  /**
   * Resolve a version once (file and version in one statement) and hand back its description with
   * a read of it to open later: a caller that needs the file's size, name or ETag before it reads
   * (conditional requests, ranges) does not resolve it a second time.
   */
  async prepare(ownerId: string, fileId: string, version?: number): Promise<PreparedRead> {
    const { f, v, compressed } = await this.files.fileVersion(ownerId, fileId, version);
    const file = fileInfo(f, v, compressed);
    const etag = entityTag(file);
    return { file, etag, open: (opts = {}) => this.openResolved(ownerId, v.id, file, etag, opts) };
  }

  private async openResolved(
    ownerId: string,
    versionId: string,
    file: FileInfo,
    etag: string,
    opts: { range?: { start: number; end: number }; decision?: ModeDecision },
  ): Promise<OpenedRead> {
    const size = file.size;
    const range = opts.range;
    const start = range?.start ?? 0;
    const end = range?.end ?? size - 1;
    const length = Math.max(0, end - start + 1);
    const decision = opts.decision ?? (await this.ctx.decide(ownerId, file.name));
    const bytes = this.readBytes(ownerId, versionId, start, end, decision.hedgeReads !== false);
    // Read the first chunk before answering: a read that fails at once (no replica answers) is
    // then a clean error status, not a connection closed before any header reached the client.
    const first = await bytes.next();
    const stream = Readable.from(first.done ? bytes : resumeWith(first.value, bytes), { objectMode: false, highWaterMark: CHUNK_SIZE });
    return { file, etag, length, range, stream };
  }

  private async *readBytes(ownerId: string, versionId: string, start: number, end: number, hedge: boolean): AsyncGenerator<Buffer> {
    if (end < start) return;
    const first = Math.floor(start / CHUNK_SIZE);
    const last = Math.floor(end / CHUNK_SIZE);
    let pageFrom = first;
    let page: ManifestRow[] = await this.ctx.catalog.manifestPage(ownerId, versionId, pageFrom, PAGE);
    let pos = 0;
    const fetchAt = (c: { hash: string; placements: Placement[] }) => {
      const p = this.reader.readChunk(ownerId, c.hash, c.placements, hedge);
      p.catch(() => undefined); // awaited below; avoid an unhandled rejection while prefetched
      return p;
    };
    const nextEntry = async () => {
      if (pos >= page.length) {
        pageFrom += PAGE;
        if (pageFrom > last) return undefined;
        page = await this.ctx.catalog.manifestPage(ownerId, versionId, pageFrom, PAGE);
        pos = 0;
      }
      const c = page[pos++];
      return c && c.idx <= last ? c : undefined;
    };
    // Read ahead: up to READ_AHEAD chunks in flight, yielded in order; memory stays at about
    // READ_AHEAD + 1 chunks whatever the file size, and a consumer that stops early stops it.
    const queue: { c: ManifestRow; data: Promise<Buffer> }[] = [];
    let exhausted = false;
    const fill = async () => {
      while (!exhausted && queue.length < READ_AHEAD) {
        const c = await nextEntry();
        if (!c) exhausted = true;
        else queue.push({ c, data: fetchAt(c) });
      }
    };
    await fill();
    while (queue.length > 0) {
      const { c: cur, data } = queue.shift() as { c: ManifestRow; data: Promise<Buffer> };
      const buf = await data;
      const base = cur.idx * CHUNK_SIZE;
      const from = Math.max(0, start - base);
      const to = Math.min(buf.length, end - base + 1);
      if (buf.length !== cur.size) throw new CorruptChunk(cur.hash, `size ${buf.length} differs from manifest ${cur.size}`);
      await fill();
      yield from === 0 && to === buf.length ? buf : buf.subarray(from, to);
    }
  }

  /** The chunk list of a version with presigned GET URLs on the best replica holding each chunk. */
  async manifest(ownerId: string, fileId: string, version?: number): Promise<{ file: FileInfo; chunkSize: number; expiresInSeconds: number; chunks: ManifestChunk[] }> {
    const f = await this.files.liveFile(ownerId, fileId);
    const v = await this.files.versionRow(f.id, version ?? f.currentVersion);
    const out: ManifestChunk[] = [];
    for (let from = 0; from < v.chunkCount; from += PAGE) {
      const page = await this.ctx.catalog.manifestPage(ownerId, v.id, from, PAGE);
      for (const c of page) {
        const best = this.reader.readOrder(c.placements).find((h) => h.present);
        out.push({
          index: c.idx,
          hash: c.hash,
          size: c.size,
          offset: c.idx * CHUNK_SIZE,
          compressed: c.compressed,
          region: best?.region ?? null,
          url: best ? await this.ctx.store(best.region).presignGet(chunkKey(ownerId, c.hash), this.ctx.presignSeconds) : null,
        });
      }
    }
    return { file: fileInfo(f, v, out.some((c) => c.compressed)), chunkSize: CHUNK_SIZE, expiresInSeconds: this.ctx.presignSeconds, chunks: out };
  }

}

/** The rest of a generator whose first value was already taken, with that value in front. */
async function* resumeWith(first: Buffer, rest: AsyncGenerator<Buffer>): AsyncGenerator<Buffer> {
  try {
    yield first;
    yield* rest;
  } finally {
    await rest.return(undefined);
  }
}
