/**
 * Upload sessions (resumable uploads in chunks): declare the chunk list, send only the chunks the
 * replicas lack (dedupe and resume), commit once enough copies exist for the mode; the
 * whole-file hash is kept running in chunk order so a commit rarely reads chunks back.
 */
import { createHash, type Hash } from 'node:crypto';
import { BadRequest, Conflict, NotFound, PayloadTooLarge } from '../errors.js';
import type { SessionRow } from '../catalog/repository.js';
import type { ChunkReader } from './chunk-reader.js';
import type { ChunkWriter } from './chunk-writer.js';
import { CHUNK_SIZE, HASH_RE } from './codec.js';
import type { Commits } from './commits.js';
import type { EngineContext } from './context.js';
import { checkFileSize, checkQuota, validateName } from './limits.js';
import { checkChunkList, PAGE, type ChunkRef, type ChunkWriteResult, type CreateSessionInput, type FileInfo, type SessionInfo } from './types.js';

export class UploadSessions {
  /** In-order running hash of sessions, so commit rarely needs to read chunks back. */
  private readonly sessionHashes = new Map<string, { hash: Hash; next: number }>();

  constructor(
    private readonly ctx: EngineContext,
    private readonly writer: ChunkWriter,
    private readonly reader: ChunkReader,
    private readonly commits: Commits,
  ) {}

  /** Declared chunks that do not yet have `need` present copies (in declaration order, unique). */
  private async missingChunks(ownerId: string, hashes: string[], need = 1): Promise<string[]> {
    const unique = [...new Set(hashes)];
    const have = await this.ctx.catalog.hashesWithCopies(ownerId, unique, need);
    return unique.filter((h) => !have.has(h));
  }

  async createSession(ownerId: string, input: CreateSessionInput): Promise<SessionInfo> {
    const name = validateName(input.name);
    if (!Number.isSafeInteger(input.size) || input.size < 0) throw new BadRequest('size must be a non-negative integer number of bytes.', 'invalid_size');
    checkFileSize(input.size, this.ctx.config.maxFileBytes);
    if (!HASH_RE.test(input.sha256)) throw new BadRequest('sha256 must be 64 lower-case hex characters (SHA-256 of the whole file).', 'invalid_sha256');
    checkChunkList(input.size, input.chunks);
    checkQuota(await this.ctx.catalog.usedBytes(ownerId), input.size, this.ctx.config.quotaBytes);
    const now = this.ctx.now();
    const expiresAt = new Date(now.getTime() + this.ctx.config.uploadTtlSeconds * 1000);
    const s = await this.ctx.catalog.createSession({
      ownerId,
      name,
      size: input.size,
      sha256: input.sha256,
      contentType: input.contentType ?? 'application/octet-stream',
      chunks: input.chunks.map((c) => ({ hash: c.hash, size: c.size })),
      createdAt: now,
      expiresAt,
    });
    // Chunks this upload will reuse must survive garbage collection until the commit.
    const hashes = [...new Set(input.chunks.map((c) => c.hash))];
    await this.ctx.catalog.touchChunks(ownerId, hashes, now);
    const decision = await this.ctx.decide(ownerId, name);
    const missing = await this.missingChunks(ownerId, hashes, this.ctx.copiesNeeded(decision.mode));
    return { uploadId: s.id, name, size: input.size, sha256: input.sha256, chunks: input.chunks.length, missing, expiresAt, committed: false, chunkSize: CHUNK_SIZE };
  }

  private async session(ownerId: string, uploadId: string): Promise<SessionRow> {
    if (!/^[0-9a-f-]{36}$/i.test(uploadId)) throw new NotFound('No such upload session.', 'upload_not_found');
    const s = await this.ctx.catalog.session(ownerId, uploadId);
    if (!s) throw new NotFound('No such upload session.', 'upload_not_found');
    if (!s.committedAt && s.expiresAt.getTime() <= this.ctx.clock.now()) {
      throw new NotFound('This upload session has expired; start a new one (chunks already stored are reused).', 'upload_expired');
    }
    return s;
  }

  async getSession(ownerId: string, uploadId: string): Promise<SessionInfo> {
    const s = await this.session(ownerId, uploadId);
    const need = s.committedAt ? 1 : this.ctx.copiesNeeded((await this.ctx.decide(ownerId, s.name)).mode);
    const missing = s.committedAt ? [] : await this.missingChunks(ownerId, s.chunks.map((c) => c.hash), need);
    return { uploadId: s.id, name: s.name, size: Number(s.size), sha256: s.sha256, chunks: s.chunks.length, missing, expiresAt: s.expiresAt, committed: s.committedAt !== null, chunkSize: CHUNK_SIZE };
  }

  async putSessionChunk(ownerId: string, uploadId: string, hash: string, body: Buffer): Promise<ChunkWriteResult> {
    const s = await this.session(ownerId, uploadId);
    if (s.committedAt) throw new Conflict('This upload session was already committed.', 'upload_committed');
    const declared = s.chunks.find((c) => c.hash === hash);
    if (!declared) throw new BadRequest(`Chunk ${hash} is not part of this upload session; send only the declared chunks.`, 'chunk_not_declared');
    if (body.length > CHUNK_SIZE) throw new PayloadTooLarge(`A chunk holds at most ${CHUNK_SIZE} bytes; this one has ${body.length}.`, 'chunk_too_large');
    if (body.length !== declared.size) throw new BadRequest(`Chunk ${hash} was declared as ${declared.size} bytes but ${body.length} arrived; nothing was stored.`, 'chunk_size_mismatch');
    const decision = await this.ctx.decide(ownerId, s.name);
    const res = await this.writer.writeChunk(ownerId, hash, body, decision, () => this.ctx.decide(ownerId, s.name));
    this.advanceSessionHash(s.id, s.chunks, hash, body);
    return res;
  }

  private advanceSessionHash(id: string, list: ChunkRef[], hash: string, body: Buffer): void {
    let st = this.sessionHashes.get(id);
    if (!st) {
      if (list[0]?.hash !== hash) return;
      if (this.sessionHashes.size >= 1000) {
        const oldest = this.sessionHashes.keys().next().value;
        if (oldest !== undefined) this.sessionHashes.delete(oldest);
      }
      st = { hash: createHash('sha256'), next: 0 };
      this.sessionHashes.set(id, st);
    }
    while (list[st.next]?.hash === hash) {
      st.hash.update(body);
      st.next += 1;
    }
  }

  /** The whole-file SHA-256 of a session's chunks: the running hash where it covers them, else a verified read-back. */
  private async sessionSha256(ownerId: string, id: string, list: ChunkRef[]): Promise<string> {
    const st = this.sessionHashes.get(id);
    this.sessionHashes.delete(id);
    const h = st?.hash ?? createHash('sha256');
    const from = st?.next ?? 0;
    for (let i = from; i < list.length; i += PAGE) {
      const hashes = [...new Set(list.slice(i, i + PAGE).map((c) => c.hash))];
      const pls = await this.ctx.catalog.placementsOf(ownerId, hashes);
      for (const c of list.slice(i, i + PAGE)) {
        h.update(await this.reader.readChunk(ownerId, c.hash, pls.filter((p) => p.hash === c.hash)));
      }
    }
    return h.digest('hex');
  }

  async commitSession(ownerId: string, uploadId: string, ifMatch?: number): Promise<FileInfo> {
    const s = await this.session(ownerId, uploadId);
    if (s.committedAt) throw new Conflict('This upload session was already committed.', 'upload_committed');
    const decision = await this.ctx.decide(ownerId, s.name);
    const missing = await this.missingChunks(ownerId, s.chunks.map((c) => c.hash), this.ctx.copiesNeeded(decision.mode));
    if (missing.length > 0) {
      throw new BadRequest(
        `${missing.length} chunk(s) are not stored on enough replicas for mode ${decision.mode} yet; send them (PUT /api/v1/uploads/{id}/chunks/{hash}), then commit again.`,
        'chunks_missing',
        { missing },
      );
    }
    const actual = await this.sessionSha256(ownerId, s.id, s.chunks);
    if (actual !== s.sha256) {
      throw new BadRequest(`The chunks hash to ${actual} but the session declared sha256 ${s.sha256}; check the chunk list and start a new session.`, 'sha256_mismatch');
    }
    return this.commits.commitVersion(ownerId, { name: s.name, size: Number(s.size), sha256: s.sha256, contentType: s.contentType, chunks: s.chunks, mode: decision.mode, ifMatch, sessionId: s.id });
  }

  async abortSession(ownerId: string, uploadId: string): Promise<void> {
    const s = await this.session(ownerId, uploadId);
    if (s.committedAt) throw new Conflict('This upload session was already committed.', 'upload_committed');
    this.sessionHashes.delete(s.id);
    // Expire it now; its unreferenced chunks are collected after the grace period.
    await this.ctx.catalog.expireSession(s.id, this.ctx.now());
  }
}
