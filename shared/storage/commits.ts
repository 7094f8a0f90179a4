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
import { deadlocked, uniqueViolation } from '../catalog/db.js';
import type { ChunkRecord } from '../catalog/repository.js';
import { logger, metrics, MetricUnit } from '../observability.js';
import type { ChunkWriter } from './chunk-writer.js';
import { chunkStream, sha256Hex } from './codec.js';
import { errMessage, type EngineContext } from './context.js';
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
   * Commit a version: a new file, or a new version of the owner's live file of that name. With
   * `ifMatch`, the commit happens only if the current version is that one.
   *
   * First as one statement (one round trip) that commits only if If-Match and the quota hold on
   * what it reads under the owner's lock; when it does not commit (a condition failed, or another
   * write of the owner's raced it), the transaction that reads the state and checks it here runs
   * instead, and says why (412, 413, …) or commits. `record`, the last chunk's placements, is
   * written with the commit, and in every case before this returns or throws.
   */
  async commitVersion(ownerId: string, input: CommitInput & { record?: ChunkRecord }): Promise<FileInfo> {
    let record = input.record;
    const writeRecord = async () => {
      const r = record;
      record = undefined;
      if (r) await this.ctx.catalog.recordChunk(r, this.ctx.now());
    };
    try {
      const name = validateName(input.name);
      checkFileSize(input.size, this.ctx.config.maxFileBytes);
      const version = { name, size: input.size, sha256: input.sha256, contentType: input.contentType ?? 'application/octet-stream', chunks: input.chunks, mode: input.mode, sessionId: input.sessionId };
      // The commit point: refused once the request timed out; once started, its outcome is the answer.
      const result = await commitPoint(async () => {
        const now = this.ctx.now();
        const usedAtMost = Math.max(-1, Math.min(Number.MAX_SAFE_INTEGER, this.ctx.config.quotaBytes - input.size));
        try {
          const r = record;
          const done = await this.ctx.catalog.commitVersionIf(ownerId, version, now, { currentVersion: input.ifMatch, usedAtMost }, r);
          // The statement ran: the record is written, whether or not it committed.
          if (record === r) record = undefined;
          if (done) return done;
        } catch (err) {
          // A racing writer of the same name (unique violation), or a deadlock with another
          // writer's transaction: the statement was rolled back and the transaction below sorts it out.
          if (!uniqueViolation(err) && !deadlocked(err)) throw err;
        }
        metrics.addMetric('CommitChecked', MetricUnit.Count, 1);
        await writeRecord();
        return this.ctx.catalog.commitVersion(ownerId, version, now, (existing, used) => {
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
        });
      });
      metrics.addMetric('VersionCommitted', MetricUnit.Count, 1);
      return fileInfo(result.f, result.v, result.compressed);
    } finally {
      // Not committed before the statement ran (bad name, timeout, a failed statement): the copies
      // on the replicas are still recorded, so they are collected if nothing references them.
      if (record) await writeRecord().catch((err: unknown) => logger.warn('chunk record not written', { error: errMessage(err) }));
    }
  }

  /**
   * Store a whole stream as a new version (the single-request upload): chunked as it arrives,
   * a few chunks in flight at a time, never the whole file in memory. The last chunk's record is
   * written by the commit's statement (a small file: one round trip for both).
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
    /** The last chunk's record, left to the commit; `recorded` resolves once it is written. */
    let lastRecord: ChunkRecord | undefined;
    let markRecorded: () => void = () => undefined;
    let kick = false;
    const recorded = new Promise<void>((resolve) => (markRecorded = resolve));
    const pieces = chunkStream(source)[Symbol.asyncIterator]();
    try {
      // One piece of look-ahead tells the last chunk (the whole body is in memory already).
      let next = await pieces.next();
      while (!next.done) {
        const piece = next.value;
        // A request answered 504 writes no further chunk (it could not commit them anyway).
        currentDeadline()?.check();
        size += piece.length;
        checkFileSize(size, this.ctx.config.maxFileBytes);
        whole.update(piece);
        next = await pieces.next();
        const last = next.done === true;
        // Hashed here from the bytes themselves: the writer need not check them again.
        const hash = sha256Hex(piece);
        refs.push({ hash, size: piece.length });
        const p: Promise<void> = this.writer.writeChunk(ownerId, hash, piece, decision, () => this.ctx.decide(ownerId, name), last ? { verified: true, deferred: { recorded } } : { verified: true }).then(
          (r) => {
            if (MODE_STRENGTH[r.mode] < MODE_STRENGTH[ackedMode]) ackedMode = r.mode;
            holders = new Set(r.acked.filter((region) => holders.has(region)));
            for (const region of r.pending) pending.add(region);
            if (r.record) {
              lastRecord = r.record;
              kick = r.record.pending.length > 0;
            }
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
      const record = lastRecord;
      lastRecord = undefined;
      const f = await this.commitVersion(ownerId, { name, size, sha256: whole.digest('hex'), contentType: input.contentType, chunks: refs, mode: ackedMode, ifMatch: input.ifMatch, record });
      return { ...f, ack: this.ack(ackedMode, [...holders], [...pending]) };
    } finally {
      // The commit was not reached (another chunk failed, a bad body): the last chunk is recorded alone.
      await Promise.all(inflight);
      if (lastRecord) await this.ctx.catalog.recordChunk(lastRecord, this.ctx.now()).catch((err: unknown) => logger.warn('chunk record not written', { error: errMessage(err) }));
      markRecorded();
      if (kick) this.ctx.kick();
    }
  }

  /** The acknowledgement of a write: `acked` held every chunk, `pending` lacked at least one. */
  ack(mode: Mode, acked: readonly string[], pending: readonly string[]): WriteAck {
    const order = (rs: readonly string[]) => this.ctx.regions.filter((r) => rs.includes(r));
    const held = order(acked);
    return { mode, acked: held, pending: order([...pending, ...this.ctx.regions.filter((r) => !held.includes(r))]), degraded: held.length < this.ctx.quorum };
  }
}
