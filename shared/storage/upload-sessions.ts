/**
 * Upload sessions (resumable uploads in chunks): declare the chunk list, send only the chunks the
 * replicas lack (dedupe and resume), commit once enough copies exist for the mode.
 *
 * The whole-file SHA-256 is advanced in file order as chunks arrive, whichever container receives
 * them: its state (hash-wasm's saved SHA-256 state) and the number of chunks it covers live in the
 * session's catalog row, advanced by compare-and-set. A chunk that arrives ahead of its
 * predecessors (several in flight) waits, within a window of WINDOW chunks, for the hash to reach
 * it (woken at once when the chunk before it is folded in this container), then folds itself in,
 * while its copies are being written. Once they are, its request waits for that only while the
 * hash moves, and gives up after `graceMs` without a move (never more than `waitMs` in all): a
 * predecessor that is not on its way (a client sending one chunk at a time out of order, or
 * retrying a failed one later) does not hold the response. A chunk that finds its predecessors
 * stored but not hashed (never sent: dedupe, resume; or sent and given up on like that) reads them
 * once from a replica and folds them in with itself. So a commit finds the hash complete and reads
 * nothing back; only a client that sends chunks far out of order, or the last chunks given up on
 * like that, leave the rest of the hash to the commit (logged, counted).
 */
import { commitPoint } from '../deadline.js';
import { createSHA256, type IHasher } from 'hash-wasm';
import { logger, metrics, MetricUnit } from '../observability.js';
import { BadRequest, Conflict, NotFound, PayloadTooLarge } from '../errors.js';
import type { SessionRow } from '../catalog/repository.js';
import type { ChunkReader } from './chunk-reader.js';
import { verifyChunk, type ChunkWriter } from './chunk-writer.js';
import { CHUNK_SIZE, HASH_RE } from './codec.js';
import type { Commits } from './commits.js';
import type { EngineContext } from './context.js';
import { checkFileSize, checkQuota, validateName } from './limits.js';
import { checkChunkList, PAGE, type ChunkWriteResult, type CreateSessionInput, type FileInfo, type SessionInfo } from './types.js';

/** How far ahead of the hashed prefix a chunk may be and still wait for it. */
const WINDOW = 32;
/** The first wait for the hash to move (doubling up to 100 ms). */
const FIRST_POLL_MS = 10;
/** Polls without progress before a gap of stored chunks (never sent, or given up on) is read and hashed. */
const STALLS_BEFORE_FILL = 4;

async function hasherFrom(state: string | null): Promise<IHasher> {
  const h = await createSHA256();
  if (state) h.load(Buffer.from(state, 'base64'));
  else h.init();
  return h;
}

type HashState = { next: number; state: string | null };
/** Set by a chunk's request when its copies are written: from then on its hash waits only while the hash moves. */
type Release = { at?: number };

export class UploadSessions {
  /** Chunk requests of this container waiting for a session's hash to reach them (see hashMoved). */
  private readonly hashWaiters = new Map<string, Set<(st: HashState) => void>>();

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
    // The commit point (shared/deadline.ts): refused once the request timed out.
    const s = await commitPoint(() => this.ctx.catalog.createSession({
      ownerId,
      name,
      size: input.size,
      sha256: input.sha256,
      contentType: input.contentType ?? 'application/octet-stream',
      chunks: input.chunks.map((c) => ({ hash: c.hash, size: c.size })),
      createdAt: now,
      expiresAt,
    }));
    // Chunks this upload will reuse must survive garbage collection until the commit.
    const hashes = [...new Set(input.chunks.map((c) => c.hash))];
    await this.ctx.catalog.touchChunks(ownerId, hashes, now);
    const decision = await this.ctx.decide(ownerId, name);
    const missing = await this.missingChunks(ownerId, hashes, this.ctx.copiesNeeded(decision));
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
    const need = s.committedAt ? 1 : this.ctx.copiesNeeded(await this.ctx.decide(ownerId, s.name));
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
    // Checked once, here: the content is then what the session declared, so it may join the
    // whole-file hash while its copies are being written (a write that fails is sent again, and
    // a position already hashed is not hashed twice).
    verifyChunk(hash, body);
    const decision = await this.ctx.decide(ownerId, s.name);
    const release: Release = {};
    const hashed = this.advanceSessionHash(s, hash, body, release).catch((err: unknown) => logger.warn('upload session hash not advanced', { uploadId: s.id, error: err instanceof Error ? err.message : String(err) }));
    try {
      return await this.writer.writeChunk(ownerId, hash, body, decision, () => this.ctx.decide(ownerId, s.name), { verified: true });
    } finally {
      // The copies are written (or failed): the hash goes on while it moves, and gives up once it
      // has not moved for the grace. Either way it has ended before the response: nothing may run
      // after it.
      release.at = performance.now();
      await hashed;
    }
  }

  /**
   * Wait for the session's hash to move: the poll delay, or sooner when a chunk in this container
   * advances it (then with the state it stored, which saves reading it back). Only a shortcut:
   * chunks handled elsewhere are seen by the poll.
   */
  private hashMoved(uploadId: string, ms: number): Promise<HashState | undefined> {
    return new Promise((resolve) => {
      const waiters = this.hashWaiters.get(uploadId) ?? new Set<(st: HashState) => void>();
      this.hashWaiters.set(uploadId, waiters);
      const done = (st?: HashState) => {
        clearTimeout(timer);
        waiters.delete(done);
        if (waiters.size === 0 && this.hashWaiters.get(uploadId) === waiters) this.hashWaiters.delete(uploadId);
        resolve(st);
      };
      const timer = setTimeout(done, ms);
      waiters.add(done);
    });
  }

  private hashAdvanced(uploadId: string, st: HashState): void {
    for (const wake of [...(this.hashWaiters.get(uploadId) ?? [])]) wake(st);
  }

  /**
   * Fold this chunk into the session's persisted whole-file hash at each of its positions, in
   * file order (see the header): at most `waitMs`, and once `release.at` is set (the chunk's copies
   * are written), only while the hash moves, giving up after `graceMs` without a move. Checked at
   * each look (at least every 100 ms). Never fails the chunk write: what it leaves undone, a later
   * chunk or the commit does.
   */
  private async advanceSessionHash(s: SessionRow, hash: string, body: Buffer, release: Release): Promise<void> {
    const list = s.chunks;
    const positions: number[] = [];
    list.forEach((c, i) => {
      if (c.hash === hash) positions.push(i);
    });
    const deadline = performance.now() + this.ctx.sessionHash.waitMs;
    const { graceMs } = this.ctx.sessionHash;
    let moved = performance.now();
    const givenUp = () => {
      const now = performance.now();
      return now > deadline || (release.at !== undefined && now - Math.max(release.at, moved) > graceMs);
    };
    // The first poll comes after about one catalog round trip: a chunk of this container wakes the
    // waiter sooner (hashMoved), so the poll only serves chunks handled in other containers.
    let delay = FIRST_POLL_MS;
    let stalls = 0;
    let lastNext = -1;
    // The first look uses the session row read before the write (saves a statement when the
    // chunks come in order; a stale view only loses the compare-and-set and looks again).
    let known: HashState | undefined = { next: s.hashNext, state: s.hashState };
    for (;;) {
      const st = known ?? (await this.ctx.catalog.sessionHash(s.id));
      known = undefined;
      if (!st) return;
      const next = st.next;
      const at = positions.find((i) => i >= next);
      if (at === undefined || at - next > WINDOW) return;
      stalls = next === lastNext ? stalls + 1 : 0;
      if (next !== lastNext) moved = performance.now();
      lastNext = next;
      if (at === next || stalls >= STALLS_BEFORE_FILL) {
        const h = await hasherFrom(st.state);
        let to = next;
        if (at > next) {
          // Stalled: the chunks before this one may be stored already and not on their way
          // (never sent: dedupe, resume; or sent, and their requests gave up on the hash). Read
          // them once if every one has a copy, else keep waiting. A request still on its way that
          // folds one first only makes this compare-and-set lose.
          const gap = list.slice(next, at);
          const unique = [...new Set(gap.map((c) => c.hash))];
          const stored = await this.ctx.catalog.hashesWithCopies(s.ownerId, unique, 1);
          const pls = stored.size === unique.length ? await this.ctx.catalog.placementsOf(s.ownerId, unique) : [];
          if (stored.size < unique.length) {
            if (givenUp()) return this.leftToCommit(s, next);
            known = await this.hashMoved(s.id, delay);
            delay = Math.min(delay * 2, 100);
            continue;
          }
          for (const c of gap) {
            h.update(await this.reader.readChunk(s.ownerId, c.hash, pls.filter((p) => p.hash === c.hash)));
            to += 1;
          }
          metrics.addMetric('SessionHashGapRead', MetricUnit.Count, gap.length);
        }
        while (list[to]?.hash === hash) {
          h.update(body);
          to += 1;
        }
        const state = Buffer.from(h.save()).toString('base64');
        const stored = await this.ctx.catalog.advanceSessionHash(s.id, next, to, state);
        if (stored) this.hashAdvanced(s.id, { next: to, state });
        if (stored && !positions.some((i) => i >= to)) return;
        if (stored) known = { next: to, state };
        delay = FIRST_POLL_MS;
        continue; // lost the compare-and-set, or more positions of this chunk further on
      }
      if (givenUp()) return this.leftToCommit(s, next);
      known = await this.hashMoved(s.id, delay);
      delay = Math.min(delay * 2, 100);
    }
  }

  private leftToCommit(s: SessionRow, next: number): void {
    logger.info('upload session hash left to a later chunk or the commit', { uploadId: s.id, hashedChunks: next, chunks: s.chunks.length });
  }

  /**
   * The whole-file SHA-256 of a session's chunks: the persisted hash state, complete when every
   * chunk arrived in a window; otherwise the rest is read back from the replicas (logged, counted).
   */
  private async sessionSha256(s: SessionRow): Promise<string> {
    const list = s.chunks;
    // The session row was read at the start of the commit, after every chunk was acknowledged.
    const st = { next: s.hashNext, state: s.hashState };
    const from = st.next;
    if (from >= list.length) return (await hasherFrom(st.state)).digest('hex');
    metrics.addMetric('SessionHashReadBack', MetricUnit.Count, list.length - from);
    logger.warn('commit reads chunks back to finish the whole-file hash', { uploadId: s.id, from, chunks: list.length });
    const h = await hasherFrom(st.state);
    for (let i = from; i < list.length; i += PAGE) {
      const page = list.slice(i, i + PAGE);
      const pls = await this.ctx.catalog.placementsOf(s.ownerId, [...new Set(page.map((c) => c.hash))]);
      for (const c of page) h.update(await this.reader.readChunk(s.ownerId, c.hash, pls.filter((p) => p.hash === c.hash)));
    }
    return h.digest('hex');
  }

  async commitSession(ownerId: string, uploadId: string, ifMatch?: number): Promise<FileInfo> {
    const s = await this.session(ownerId, uploadId);
    if (s.committedAt) throw new Conflict('This upload session was already committed.', 'upload_committed');
    const decision = await this.ctx.decide(ownerId, s.name);
    const missing = await this.missingChunks(ownerId, s.chunks.map((c) => c.hash), this.ctx.copiesNeeded(decision));
    if (missing.length > 0) {
      throw new BadRequest(
        `${missing.length} chunk(s) are not stored on enough replicas for mode ${decision.mode} yet; send them (PUT /api/v1/uploads/{id}/chunks/{hash}), then commit again.`,
        'chunks_missing',
        { missing },
      );
    }
    const actual = await this.sessionSha256(s);
    if (actual !== s.sha256) {
      throw new BadRequest(`The chunks hash to ${actual} but the session declared sha256 ${s.sha256}; check the chunk list and start a new session.`, 'sha256_mismatch');
    }
    // Where the chunks are at the commit (read before it: a failed read commits nothing).
    const hashes = [...new Set(s.chunks.map((c) => c.hash))];
    const present = new Map<string, Set<string>>();
    for (const p of await this.ctx.catalog.placementsOf(ownerId, hashes)) {
      if (p.state !== 'present') continue;
      const held = present.get(p.region) ?? new Set<string>();
      held.add(p.hash);
      present.set(p.region, held);
    }
    const acked = this.ctx.regions.filter((r) => (present.get(r)?.size ?? 0) === hashes.length);
    // On the strong mode's deadline path, a version held by fewer than a majority is acknowledged as hybrid.
    const mode = this.ctx.ackMode(decision, acked.length);
    const f = await this.commits.commitVersion(ownerId, { name: s.name, size: Number(s.size), sha256: s.sha256, contentType: s.contentType, chunks: s.chunks, mode, ifMatch, sessionId: s.id });
    return { ...f, ack: this.commits.ack(mode, acked, []) };
  }

  async abortSession(ownerId: string, uploadId: string): Promise<void> {
    const s = await this.session(ownerId, uploadId);
    if (s.committedAt) throw new Conflict('This upload session was already committed.', 'upload_committed');
    // Expire it now; its unreferenced chunks are collected after the grace period.
    await commitPoint(() => this.ctx.catalog.expireSession(s.id, this.ctx.now()));
  }
}
