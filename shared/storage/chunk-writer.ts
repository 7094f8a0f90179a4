/**
 * The chunk writer: stores one chunk on the replicas under the object's mode (quorum, the strong
 * mode's deadline path, hybrid deadline or one ack), records where its copies live (present /
 * pending placements), marks straggling copies present when they land, and fails a strong write
 * that cannot reach a majority.
 */
import { BadRequest, PayloadTooLarge, Unavailable } from '../errors.js';
import { metrics, MetricUnit } from '../observability.js';
import { recordWriteLatency } from '../controller/metrics.js';
import { awaitAcks, type AckOutcome, type Attempt } from './acks.js';
import { CHUNK_SIZE, encodeChunk, sha256Hex } from './codec.js';
import type { EngineContext } from './context.js';
import { chunkKey, type HealthSink, type ModeDecision } from './ports.js';
import type { ChunkRecord } from '../catalog/repository.js';
import type { ChunkWriteResult } from './types.js';

/** Refuse a chunk whose content does not hash to the hash it was sent under (400, nothing stored). */
export function verifyChunk(hash: string, plain: Buffer): void {
  const actual = sha256Hex(plain);
  if (actual !== hash) throw new BadRequest(`Chunk content hashes to ${actual}, not ${hash}: nothing was stored. Resend the chunk.`, 'hash_mismatch');
}

/** The longest a strong write that has its majority waits for the copies still being written. */
const STRAGGLER_GRACE_MAX_MS = 20;

/** How long a strong write that took `quorumMs` to reach its majority waits for the remaining copies. */
export function stragglerGraceMs(quorumMs: number): number {
  return Math.min(STRAGGLER_GRACE_MAX_MS, quorumMs / 2);
}

/**
 * Whether a copy still being written to `region` may land within `byMs` of the write's start, as
 * far as the health picture knows: not when the region is judged unreachable, nor when its
 * smoothed latency is past `byMs`; a region never measured may.
 */
export function mayLandBy(health: HealthSink, region: string, byMs: number): boolean {
  if (!health.ranked([region]).includes(region)) return false;
  const usual = health.latency?.(region);
  return usual === undefined || usual <= byMs;
}

/**
 * A strong write has its majority; the remaining copies usually land moments later. Wait for them
 * a little (`graceMs`): a copy landing within it is recorded present with the others, instead of
 * pending, then marked present by a second statement, with the replicator kicked meanwhile to copy
 * a chunk already on its way. A slow or failing replica costs the write at most the grace, and
 * nothing when `mayLand` says it cannot make it (a replica judged unreachable, or one whose usual
 * latency ends past the grace): then the write does not wait for it at all.
 */
export async function stragglersWithin(attempts: readonly Attempt[], decided: AckOutcome, graceMs: number, mayLand: (region: string) => boolean): Promise<AckOutcome> {
  const late = attempts.filter((a) => decided.inFlight.includes(a.region) && mayLand(a.region));
  if (late.length === 0) return decided;
  const landed = new Set<string>();
  const all = Promise.all(late.map((a) => a.done.then(() => void landed.add(a.region), () => undefined)));
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([all, new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
  clearTimeout(timer);
  if (landed.size === 0) return decided;
  return { ...decided, acked: [...decided.acked, ...landed], inFlight: decided.inFlight.filter((r) => !landed.has(r)) };
}

/** While a strong write waits for its majority with a copy landed, how often it asks whether the controller has moved to available. */
const REDECIDE_EVERY_MS = 250;

/**
 * Watch a strong write that waits for its majority: once a copy has landed, ask every
 * REDECIDE_EVERY_MS whether the controller has moved the object to available meanwhile (a majority
 * became unreachable: the emergency rule). `switched` resolves with that decision; the write is then
 * acknowledged at once with the copies it holds, instead of when the lost replicas' calls time out.
 * A critical key or an override keeps the object strong, so the write keeps waiting.
 */
function watchForAvailable(attempts: readonly Attempt[], redecide: () => Promise<ModeDecision>): { switched: Promise<ModeDecision>; stop(): void } {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let resolve!: (d: ModeDecision) => void;
  const switched = new Promise<ModeDecision>((r) => (resolve = r));
  const poll = async () => {
    if (stopped) return;
    const d = await redecide().catch(() => undefined);
    if (stopped) return;
    if (d?.mode === 'A') return resolve(d);
    timer = setTimeout(() => void poll(), REDECIDE_EVERY_MS);
  };
  Promise.any(attempts.map((a) => a.done)).then(
    () => {
      if (!stopped) timer = setTimeout(() => void poll(), REDECIDE_EVERY_MS);
    },
    () => undefined,
  );
  return {
    switched,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

export class ChunkWriter {
  constructor(private readonly ctx: EngineContext) {}

  /**
   * Store one chunk on the replicas and record where it lives. Acknowledged by `decision.mode`;
   * strong writes that cannot reach a majority fail with 503 and are not acknowledged.
   * `verified`: the caller has already checked the content against `hash` (verifyChunk).
   *
   * With `deferred`, the record is left to the caller (the result's `record`, written by the
   * commit's own statement, or alone if the commit is not reached) and `deferred.recorded` resolves
   * once it is written: copies that land later are marked present only then, and the caller kicks
   * the replicator for the pending ones.
   */
  async writeChunk(
    ownerId: string,
    hash: string,
    plain: Buffer,
    decision: ModeDecision,
    redecide?: () => Promise<ModeDecision>,
    opts: { verified?: boolean; deferred?: { recorded: Promise<unknown> } } = {},
  ): Promise<ChunkWriteResult> {
    const deferred = opts.deferred;
    if (plain.length > CHUNK_SIZE) throw new PayloadTooLarge(`A chunk holds at most ${CHUNK_SIZE} bytes; this one has ${plain.length}.`, 'chunk_too_large');
    if (!opts.verified) verifyChunk(hash, plain);
    const mode = decision.mode;
    const q = this.ctx.quorum;

    // The stored form (a compression attempt, on the thread pool) is prepared while the catalog
    // answers the touch below; a chunk found already stored discards it.
    const encoding = encodeChunk(plain, hash);
    encoding.catch(() => undefined); // awaited below unless deduplicated
    // Touch the chunk row first (if the chunk is known): garbage collection re-checks touched_at
    // under the row lock, so it never deletes copies this write is about to rely on. Only a known
    // chunk has placements worth reading.
    const known = await this.ctx.catalog.touchChunk(ownerId, hash, this.ctx.now());
    const existing = known?.placements ?? [];
    const present = existing.filter((p) => p.state === 'present' && this.ctx.stores.has(p.region)).map((p) => p.region);
    if (known && (present.length >= q || (mode === 'A' && present.length >= 1))) {
      metrics.addMetric('ChunkDeduped', MetricUnit.Count, 1);
      return { hash, size: plain.length, storedSize: known.storedSize, compressed: known.compressed, deduped: true, acked: present, pending: this.ctx.regions.filter((r) => !present.includes(r)), mode, degraded: present.length < q };
    }

    const enc = await encoding;
    const key = chunkKey(ownerId, hash);
    const targets = this.ctx.regions.filter((r) => !present.includes(r));
    const writeStarted = performance.now();
    const attempts: Attempt[] = targets.map((region) => ({
      region,
      done: this.ctx.timedWrite(region, () => this.ctx.store(region).put(key, enc.stored)),
    }));
    // The controller's deadline path applies to strong writes only (see ModeDecision.writePath).
    const path = mode === 'C' ? decision.writePath : undefined;
    let switched: ModeDecision | undefined;
    const watch = mode === 'C' && redecide ? watchForAvailable(attempts, redecide) : undefined;
    const decided = await awaitAcks(attempts, {
      mode,
      replicas: this.ctx.regions.length,
      alreadyPresent: present.length,
      hybridDeadlineMs: this.ctx.hybridDeadlineMs(),
      ...(path ? { majorityWait: { waitMs: path.waitMs, estimatesMs: path.estimatesMs } } : {}),
      ...(watch ? { until: watch.switched.then((d) => (switched = d)) } : {}),
    });
    watch?.stop();
    const quorumMs = performance.now() - writeStarted;
    const graceMs = stragglerGraceMs(quorumMs);
    const outcome = mode === 'C' && decided.satisfied && !decided.degraded ? await stragglersWithin(attempts, decided, graceMs, (r) => mayLandBy(this.ctx.health, r, quorumMs + graceMs)) : decided;
    const holders = [...present, ...outcome.acked];
    const pending = this.ctx.regions.filter((r) => !holders.includes(r));

    // Record every copy that landed or may still land, so nothing in a bucket escapes the catalog
    // (unreferenced chunks are collected after the grace period).
    let record: ChunkRecord | undefined;
    if (holders.length > present.length || outcome.satisfied || outcome.inFlight.length > 0) {
      record = { ownerId, hash: enc.hash, size: enc.size, storedSize: enc.stored.length, compressed: enc.compressed, holders, pending };
      if (!deferred) {
        await this.ctx.catalog.recordChunk(record, this.ctx.now());
        record = undefined;
      }
    }
    // Writes still running become present when they land (and their pending row is written);
    // until then their rows stay pending.
    const late = attempts.filter((a) => outcome.inFlight.includes(a.region));
    if (late.length > 0) this.ctx.track(this.markLanded(ownerId, hash, late, deferred?.recorded));
    // A strong write the deadline path acknowledged with fewer than a majority is hybrid, truthfully.
    let ackMode = this.ctx.ackMode(decision, holders.length);
    let satisfied = outcome.satisfied;
    // A write waiting for its quorum may outlive the mode it started under: when a majority became
    // unreachable meanwhile, the controller has moved to available (emergency). The write is then
    // acknowledged under the mode in force, with the copy it has: as soon as the watch above sees
    // the switch, or when its calls end; a critical key or an override still resolves to strong,
    // and the write fails.
    if (!satisfied && mode !== 'A' && holders.length >= 1 && redecide) {
      const now = switched ?? (await redecide().catch(() => undefined));
      if (now?.mode === 'A') {
        ackMode = 'A';
        satisfied = true;
        metrics.addMetric('ChunkWriteRedecided', MetricUnit.Count, 1);
      }
    }
    if (!satisfied) {
      // Refused: the copies that landed are still recorded (then collected as unreferenced).
      if (record) await this.ctx.catalog.recordChunk(record, this.ctx.now());
      metrics.addMetric('ChunkWriteRejected', MetricUnit.Count, 1);
      const why = Object.entries(outcome.failed).map(([r, e]) => `${r}: ${e}`).join('; ');
      const needed = this.ctx.copiesNeeded(decision);
      throw new Unavailable(
        needed > 1
          ? `Strong write needs ${q} of ${this.ctx.regions.length} replicas and only ${holders.length} acknowledged; nothing was committed. Retry later. (${why})`
          : `No replica acknowledged the write; nothing was committed. Retry later. (${why})`,
        5,
        'replicas_unavailable',
        { mode, acked: holders, needed },
      );
    }
    this.ctx.health.recordWrite?.(plain.length);
    recordWriteLatency(ackMode, quorumMs);
    metrics.addMetric('ChunkWritten', MetricUnit.Count, 1);
    if (outcome.degraded || ackMode !== mode) metrics.addMetric('ChunkWriteDegraded', MetricUnit.Count, 1);
    if (pending.length > 0 && !record) this.ctx.kick();
    return { hash, size: enc.size, storedSize: enc.stored.length, compressed: enc.compressed, deduped: false, acked: holders, pending, mode: ackMode, degraded: holders.length < q, ...(record ? { record } : {}) };
  }

  /**
   * Straggling writes that land become present; one that fails stays pending for the replicator
   * (its failure was already observed). Copies landing within STRAGGLER_GRACE_MAX_MS of the first
   * are marked in one statement (an available write's two stragglers usually land together), a
   * later one on its own when it lands. With `recorded`, nothing is marked before the chunk's
   * record (and its pending rows) is written. A copy a read has meanwhile found bad ('missing')
   * stays queued: the replicator re-copies and verifies it.
   */
  private async markLanded(ownerId: string, hash: string, late: readonly Attempt[], recorded?: Promise<unknown>): Promise<void> {
    const landed = new Set<string>();
    const settled = late.map((a) => a.done.then(() => void landed.add(a.region), () => undefined));
    const first = await Promise.any(late.map((a) => a.done)).then(() => true, () => false);
    if (!first) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(settled), new Promise<void>((resolve) => (timer = setTimeout(resolve, STRAGGLER_GRACE_MAX_MS)))]);
    clearTimeout(timer);
    await recorded?.catch(() => undefined);
    const batch = [...landed];
    const later = late.filter((a) => !landed.has(a.region)).map((a) => a.done.then(() => this.ctx.catalog.markPresent(ownerId, hash, [a.region], this.ctx.now()), () => undefined));
    await Promise.all([this.ctx.catalog.markPresent(ownerId, hash, batch, this.ctx.now()), ...later]);
  }
}
