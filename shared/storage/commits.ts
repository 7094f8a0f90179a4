/**
 * Committing versions: a new file or a new version of the owner's live file of that name, in one
 * catalog transaction, with compare-and-swap on the current version (If-Match, 412 on mismatch)
 * and the quota checked under the owner's lock; and the single-request upload that chunks a
 * stream as it arrives and commits it.
 */
import { createHash } from 'node:crypto';
import type { Mode } from '../config.js';
import { commitPoint, currentDeadline } from '../deadline.js';
import { PreconditionFailed } from '../errors.js';
import { metrics, MetricUnit } from '../observability.js';
import type { ChunkWriter } from './chunk-writer.js';
import { chunkStream, sha256Hex } from './codec.js';
import type { EngineContext } from './context.js';
import { fileInfo } from './files.js';
import { checkFileSize, checkQuota, validateName } from './limits.js';
import { MODE_STRENGTH, type ChunkRef, type FileInfo, type WriteAck } from './types.js';

export interface CommitInput {
  name: string;
  size: number;
  sha256: string;
  contentType?: string;
  chunks: ChunkRef[];
  mode: Mode;
  ifMatch?: number;
  sessionId?: string;
}

export class Commits {
  constructor(
    private readonly ctx: EngineContext,
    private readonly writer: ChunkWriter,
  ) {}

  /**
   * Commit a version in one catalog transaction: a new file, or a new version of the owner's live
   * file of that name. With `ifMatch`, the commit happens only if the current version is that one.
   */
  async commitVersion(ownerId: string, input: CommitInput): Promise<FileInfo> {
    const name = validateName(input.name);
    checkFileSize(input.size, this.ctx.config.maxFileBytes);
    // The commit point: refused once the request timed out; once started, its outcome is the answer.
    const result = await commitPoint(() => this.ctx.catalog.commitVersion(
      ownerId,
      { name, size: input.size, sha256: input.sha256, contentType: input.contentType ?? 'application/octet-stream', chunks: input.chunks, mode: input.mode, sessionId: input.sessionId },
      this.ctx.now(),
      (existing, used) => {
        if (input.ifMatch !== undefined && (existing?.currentVersion ?? 0) !== input.ifMatch) {
          throw new PreconditionFailed(
            existing
              ? `If-Match: version ${input.ifMatch} was asked for but '${name}' is at version ${existing.currentVersion}. Fetch the current version and retry.`
              : `If-Match: version ${input.ifMatch} was asked for but '${name}' does not exist (use If-Match: 0 to create it).`,
            'version_mismatch',
            { current_version: existing?.currentVersion ?? 0 },
          );
        }
        checkQuota(used, input.size, this.ctx.config.quotaBytes);
      },
    ));
    metrics.addMetric('VersionCommitted', MetricUnit.Count, 1);
    return fileInfo(result.f, result.v, result.compressed);
  }

  /**
   * Store a whole stream as a new version (the single-request upload): chunked as it arrives,
   * a few chunks in flight at a time, never the whole file in memory.
   */
  async uploadStream(ownerId: string, input: { name: string; contentType?: string; ifMatch?: number; declaredSize?: number }, source: AsyncIterable<Uint8Array>): Promise<FileInfo> {
    const name = validateName(input.name);
    if (input.declaredSize !== undefined) {
      checkFileSize(input.declaredSize, this.ctx.config.maxFileBytes);
      checkQuota(await this.ctx.catalog.usedBytes(ownerId), input.declaredSize, this.ctx.config.quotaBytes);
    }
    const decision = await this.ctx.decide(ownerId, name);
    /** The weakest mode any chunk was acknowledged under (a write may finish under another). */
    let ackedMode: Mode = decision.mode;
    /** Regions that held every chunk so far at its ack, and regions some chunk was left pending on. */
    let holders = new Set(this.ctx.regions);
    const pending = new Set<string>();
    const whole = createHash('sha256');
    const refs: ChunkRef[] = [];
    const inflight = new Set<Promise<void>>();
    let size = 0;
    let failure: unknown;
    for await (const piece of chunkStream(source)) {
      // A request answered 504 writes no further chunk (it could not commit them anyway).
      currentDeadline()?.check();
      size += piece.length;
      checkFileSize(size, this.ctx.config.maxFileBytes);
      whole.update(piece);
      const hash = sha256Hex(piece);
      refs.push({ hash, size: piece.length });
      const p: Promise<void> = this.writer.writeChunk(ownerId, hash, piece, decision, () => this.ctx.decide(ownerId, name)).then(
        (r) => {
          if (MODE_STRENGTH[r.mode] < MODE_STRENGTH[ackedMode]) ackedMode = r.mode;
          holders = new Set(r.acked.filter((region) => holders.has(region)));
          for (const region of r.pending) pending.add(region);
        },
        (err: unknown) => {
          failure ??= err;
        },
      );
      const tracked = p.finally(() => inflight.delete(tracked));
      inflight.add(tracked);
      if (inflight.size >= this.ctx.uploadConcurrency) await Promise.race(inflight);
      if (failure) break;
    }
    await Promise.all(inflight);
    if (failure) throw failure;
    const f = await this.commitVersion(ownerId, { name, size, sha256: whole.digest('hex'), contentType: input.contentType, chunks: refs, mode: ackedMode, ifMatch: input.ifMatch });
    return { ...f, ack: this.ack(ackedMode, [...holders], [...pending]) };
  }

  /** The acknowledgement of a write: `acked` held every chunk, `pending` lacked at least one. */
  ack(mode: Mode, acked: readonly string[], pending: readonly string[]): WriteAck {
    const order = (rs: readonly string[]) => this.ctx.regions.filter((r) => rs.includes(r));
    const held = order(acked);
    return { mode, acked: held, pending: order([...pending, ...this.ctx.regions.filter((r) => !held.includes(r))]), degraded: held.length < this.ctx.quorum };
  }
}
