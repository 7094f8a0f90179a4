/**
 * The replicator: drains the replication backlog (placement rows in state pending or missing),
 * one batch per call (drainBacklog). Its SQL lives in catalog/backlog-repository.ts, its waits in
 * replication-backoff.ts, the write path's kick in replication-trigger.ts, the loop, schedule and
 * sweep/GC orchestration in replication-runner.ts, the status view in backlog-report.ts.
 *
 * Each run claims a batch of rows atomically (UPDATE … WHERE key IN (SELECT … FOR UPDATE SKIP
 * LOCKED) RETURNING), so two workers never copy the same row while a lease is held. For each row
 * it fetches the stored chunk from a region that holds it (state present), verifies that it
 * decodes to its hash, writes it to the target and marks the row present. A failure increments
 * the row's attempts and schedules the next one with exponential backoff and jitter; a region that
 * keeps failing is left alone for a while as a whole. Everything is idempotent: chunks are
 * immutable and content-addressed, so re-running a copy after a crash rewrites the same bytes.
 *
 * A row whose chunk no region holds (what a write that was not acknowledged leaves, or a chunk
 * whose every copy was lost) is never retried on the usual schedule: a verified copy in its own
 * region is adopted, an unacknowledged write's row is dropped (bytes left to GC), and a referenced
 * chunk's row is parked and counted as unrecoverable. The lag counts only copies that can be made.
 */
import { and, eq, inArray } from 'drizzle-orm';
import type { Db } from '../catalog/db.js';
import { chunkPlacements, chunks } from '../catalog/schema.js';
import {
  chunkHasSource,
  claimBacklog,
  dropUnheldRow,
  expediteChunk,
  expediteRegions,
  expediteTargetFaults,
  readBacklogStats,
  rowKey,
  type BacklogStats,
  type ClaimedRow,
} from '../catalog/backlog-repository.js';
import { logger } from '../observability.js';
import { systemClock, type Clock } from '../clock.js';
import { mapLimit } from '../concurrency.js';
import { decodeChunk } from './codec.js';
import { chunkKey, type HealthSink, type ObjectStore } from './ports.js';
import { DEFAULT_BACKOFF, RegionBackoff, rowBackoffMs, type BackoffPolicy } from './replication-backoff.js';

export { systemClock, type Clock } from '../clock.js';
export { claimBacklog, expediteRegions } from '../catalog/backlog-repository.js';
export { DEFAULT_BACKOFF, RegionBackoff, rowBackoffMs, type BackoffPolicy } from './replication-backoff.js';
export { createLambdaTrigger, type ReplicationTrigger } from './replication-trigger.js';

const defaultRegionBackoff = new RegionBackoff();

export interface DrainOptions {
  db: Db;
  /** region -> replica */
  stores: ReadonlyMap<string, ObjectStore>;
  /** Optional health picture: orders the sources (healthy, fastest first) and receives every outcome. */
  health?: HealthSink;
  /** Unique per worker (process, Lambda invocation…): the claim owner. */
  workerId: string;
  batchSize?: number;
  clock?: Clock;
  /** How long a claim holds (ms); an expired claim can be taken over by another worker. */
  leaseMs?: number;
  /** Copies in flight at once. */
  concurrency?: number;
  backoff?: BackoffPolicy;
  /** Region failure memory; keep one per worker across runs (a module default otherwise). */
  regionBackoff?: RegionBackoff;
  random?: () => number;
  /**
   * A row of a chunk some version references but no region holds (a lost copy the catalog cannot
   * restore) is looked at again only after this long (ms); it is reported as unrecoverable.
   */
  unrecoverableRecheckMs?: number;
  /**
   * Epoch ms after which no further copy starts: the rows not yet started are handed back
   * untouched (counted as deferred), so a caller with a hard time limit (a Lambda) stops with
   * nothing half-done. Copies already running finish or fail as usual.
   */
  deadline?: number;
}

export interface DrainStats {
  claimed: number;
  copied: number;
  failed: number;
  /** Claimed rows handed back untouched because their region went into cool-down mid-run. */
  deferred: number;
  /** Source copies found missing or corrupt while copying (now queued for repair themselves). */
  badSources: number;
  /** Placement rows dropped because their chunk no longer exists in the catalog. */
  orphans: number;
  /** Rows no region held a source for, whose own region turned out to hold a verified copy (now present). */
  adopted: number;
  /** Rows of a write that was not acknowledged (no holder, no version references the chunk): dropped, bytes left to GC. */
  dropped: number;
  /** Rows of a referenced chunk that no region holds: parked for `unrecoverableRecheckMs`, reported. */
  unrecoverable: number;
  /** Regions skipped for this run (cooling down after consecutive failures). */
  skippedRegions: string[];
  /** Rows of a region that took a copy in this batch made due at once (they backed off after its earlier failed writes). */
  expedited: number;
}

/** How a row's last error starts when its target region failed the write (see expediteTargetFaults). */
const targetFault = (region: string) => `write to ${region}: `;

function describeError(err: unknown): string {
  const msg = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return msg.length > 500 ? `${msg.slice(0, 497)}...` : msg;
}

/** Drain one batch of the backlog. Safe to run from several workers at once and to re-run. */
export async function drainBacklog(opts: DrainOptions): Promise<DrainStats> {
  const { db, stores, health, workerId } = opts;
  const clock = opts.clock ?? systemClock;
  const leaseMs = opts.leaseMs ?? 60_000;
  const policy = opts.backoff ?? DEFAULT_BACKOFF;
  const breaker = opts.regionBackoff ?? defaultRegionBackoff;
  const random = opts.random ?? Math.random;
  const stats: DrainStats = { claimed: 0, copied: 0, failed: 0, deferred: 0, badSources: 0, orphans: 0, adopted: 0, dropped: 0, unrecoverable: 0, skippedRegions: [], expedited: 0 };

  const startedAt = clock.now();
  const all = [...stores.keys()];
  // A region this worker holds off that has answered since its cool-down began (the prober's
  // probes, the writes, another container, as the health picture holds them) is back: its
  // cool-down ends, and its rows, deferred to the cool-down's end, are due now. Without this a
  // worker that never saw the recovery itself (another container's prober did) waited out a
  // cool-down of up to two minutes after the heal.
  const answered = all.filter((r) => breaker.answeredAt(r, health?.lastOkAt?.(r) ?? 0, startedAt));
  if (answered.length > 0) {
    const due = await expediteRegions(db, answered, new Date(startedAt));
    logger.info('regions answered again during their cool-down: backlog made due', { regions: answered, rows: due });
  }
  /** Regions that took a copy in this batch. */
  const tookWrites = new Set<string>();
  // Targets are filtered by this worker's own region backoff only, not by the health picture: a
  // region judged unreachable recovers through successful calls, and the replicator's retries
  // after each cool-down are among them (nothing else may be probing it).
  const targets = all.filter((r) => !breaker.isOpen(r, startedAt));
  stats.skippedRegions = all.filter((r) => !targets.includes(r));

  const claimed = await claimBacklog(db, {
    workerId,
    limit: opts.batchSize ?? 100,
    now: new Date(startedAt),
    leaseUntil: new Date(startedAt + leaseMs),
    regions: targets,
  });
  stats.claimed = claimed.length;
  if (claimed.length === 0) return stats;

  // Which regions hold each claimed chunk, and whether the chunk still exists at all.
  const owners = [...new Set(claimed.map((r) => r.ownerId))];
  const hashes = [...new Set(claimed.map((r) => r.hash))];
  const p = chunkPlacements;
  const [holderRows, chunkRows] = await Promise.all([
    db
      .select({ ownerId: p.ownerId, hash: p.hash, region: p.region })
      .from(p)
      .where(and(eq(p.state, 'present'), inArray(p.ownerId, owners), inArray(p.hash, hashes))),
    db
      .select({ ownerId: chunks.ownerId, hash: chunks.hash })
      .from(chunks)
      .where(and(inArray(chunks.ownerId, owners), inArray(chunks.hash, hashes))),
  ]);
  const id = (ownerId: string, hash: string) => `${ownerId}/${hash}`;
  const holders = new Map<string, string[]>();
  for (const h of holderRows) {
    const k = id(h.ownerId, h.hash);
    holders.set(k, [...(holders.get(k) ?? []), h.region]);
  }
  const existing = new Set(chunkRows.map((c) => id(c.ownerId, c.hash)));

  const release = async (row: ClaimedRow, set: Partial<typeof chunkPlacements.$inferInsert>) =>
    db
      .update(p)
      .set({ ...set, claimedBy: null, claimedUntil: null, updatedAt: new Date(clock.now()) })
      .where(and(rowKey(row), eq(p.claimedBy, workerId)));

  const copyOne = async (row: ClaimedRow): Promise<void> => {
    const now = clock.now();
    if (!existing.has(id(row.ownerId, row.hash))) {
      await db.delete(p).where(and(rowKey(row), eq(p.claimedBy, workerId)));
      stats.orphans += 1;
      return;
    }
    const target = stores.get(row.region);
    if (!target || breaker.isOpen(row.region, now)) {
      await release(row, { nextAttemptAt: new Date(Math.max(breaker.openUntil(row.region), now + policy.baseMs)) });
      stats.deferred += 1;
      return;
    }
    const key = chunkKey(row.ownerId, row.hash);
    // Sources: healthy holders best first, then the ones the health picture doubts (last resort).
    const holding = holders.get(id(row.ownerId, row.hash)) ?? [];
    if (holding.length === 0) {
      await resolveUnheld(row, target, key);
      return;
    }
    const preferred = health ? health.ranked(holding) : holding;
    const rank = [...preferred, ...holding.filter((r) => !preferred.includes(r))];
    const sources = rank.filter((r) => r !== row.region && stores.has(r) && !breaker.isOpen(r, now));
    const problems: string[] = [];
    let bytes: Buffer | undefined;
    for (const region of sources) {
      const source = stores.get(region) as ObjectStore;
      const t0 = clock.now();
      let got: Buffer | undefined;
      try {
        got = await source.get(key);
        health?.observe(region, { ok: true, latencyMs: clock.now() - t0 });
        breaker.success(region);
      } catch (err) {
        health?.observe(region, { ok: false, latencyMs: clock.now() - t0, error: describeError(err) });
        breaker.failure(region, clock.now());
        problems.push(`${region}: ${describeError(err)}`);
        continue;
      }
      try {
        if (got === undefined) throw new Error('object not found');
        await decodeChunk(got, row.hash);
        bytes = got;
        break;
      } catch (err) {
        // The catalog said present but the copy is gone or corrupt: queue it for repair too.
        problems.push(`${region}: ${describeError(err)}`);
        stats.badSources += 1;
        await db
          .update(p)
          .set({ state: 'missing', pendingSince: new Date(clock.now()), attempts: 0, nextAttemptAt: null, lastError: `replicator: source copy ${describeError(err)}`, updatedAt: new Date(clock.now()) })
          .where(and(eq(p.ownerId, row.ownerId), eq(p.hash, row.hash), eq(p.region, region), eq(p.state, 'present')));
      }
    }
    if (!bytes) {
      const reason = sources.length === 0 ? 'no reachable region holds a verified copy' : `no usable source (${problems.join('; ')})`;
      await fail(row, reason, false);
      return;
    }
    const t0 = clock.now();
    try {
      await target.put(key, bytes);
      health?.observe(row.region, { ok: true, latencyMs: clock.now() - t0 });
      breaker.success(row.region);
      tookWrites.add(row.region);
    } catch (err) {
      health?.observe(row.region, { ok: false, latencyMs: clock.now() - t0, error: describeError(err) });
      breaker.failure(row.region, clock.now());
      await fail(row, `${targetFault(row.region)}${describeError(err)}`, true);
      return;
    }
    await release(row, { state: 'present', pendingSince: null, attempts: 0, nextAttemptAt: null, lastError: null });
    stats.copied += 1;
  };

  /**
   * A row whose chunk no region holds a present copy of: retrying the copy can never succeed. Its
   * own region may hold the copy a straggling write left (verified, it becomes present and the
   * chunk's other rows become due); otherwise the row of a write that was not acknowledged is
   * dropped (bytes left to GC), and the row of a chunk a version references is parked and reported
   * as unrecoverable instead of being retried on the usual schedule.
   */
  const resolveUnheld = async (row: ClaimedRow, target: ObjectStore, key: string): Promise<void> => {
    const t0 = clock.now();
    let landed: Buffer | undefined;
    let looked = false;
    try {
      const got = await target.get(key);
      health?.observe(row.region, { ok: true, latencyMs: clock.now() - t0 });
      breaker.success(row.region);
      looked = true;
      if (got !== undefined) {
        await decodeChunk(got, row.hash);
        landed = got;
      }
    } catch (err) {
      if (!looked) {
        health?.observe(row.region, { ok: false, latencyMs: clock.now() - t0, error: describeError(err) });
        breaker.failure(row.region, clock.now());
      }
      // Unreachable, or a corrupt copy (left for GC or a later write to replace).
    }
    if (landed) {
      await release(row, { state: 'present', pendingSince: null, attempts: 0, nextAttemptAt: null, lastError: null });
      await expediteChunk(db, row.ownerId, row.hash, new Date(clock.now()));
      stats.adopted += 1;
      return;
    }
    if (await dropUnheldRow(db, row, workerId)) {
      stats.dropped += 1;
      return;
    }
    // Not dropped: a copy was recorded meanwhile (retry now), or a version references the chunk.
    if (await chunkHasSource(db, row.ownerId, row.hash)) {
      await release(row, { nextAttemptAt: new Date(clock.now()) });
      stats.deferred += 1;
      return;
    }
    if (!looked) {
      await fail(row, `unreachable: ${row.region} did not answer; no other region holds the chunk`, true);
      return;
    }
    const now = clock.now();
    await release(row, {
      attempts: row.attempts + 1,
      nextAttemptAt: new Date(now + (opts.unrecoverableRecheckMs ?? 6 * 3600_000)),
      lastError: 'no_source: no region holds a verified copy of the chunk',
    });
    stats.unrecoverable += 1;
    logger.error('a referenced chunk has no copy in any region', { region: row.region, hash: row.hash, ownerId: row.ownerId });
  };

  const fail = async (row: ClaimedRow, reason: string, targetFault: boolean) => {
    const now = clock.now();
    const attempts = row.attempts + 1;
    let next = now + rowBackoffMs(attempts, policy, random);
    if (targetFault) next = Math.max(next, breaker.openUntil(row.region));
    await release(row, { attempts, nextAttemptAt: new Date(next), lastError: reason.slice(0, 1000) });
    stats.failed += 1;
  };

  // Renew the lease while the batch runs, so slow replicas never let a claim lapse mid-copy.
  const heartbeat = setInterval(() => {
    db.update(p)
      .set({ claimedUntil: new Date(clock.now() + leaseMs) })
      .where(and(eq(p.claimedBy, workerId), inArray(p.state, ['pending', 'missing'])))
      .catch((err: unknown) => logger.warn('replication lease renewal failed', { error: describeError(err) }));
  }, Math.max(1000, Math.floor(leaseMs / 3)));
  heartbeat.unref?.();
  try {
    await mapLimit(claimed, opts.concurrency ?? 8, async (row) => {
      try {
        if (opts.deadline !== undefined && clock.now() >= opts.deadline) {
          await release(row, {});
          stats.deferred += 1;
          return;
        }
        await copyOne(row);
      } catch (err) {
        // A catalog error: leave the claim to expire; the row is retried after the lease.
        stats.failed += 1;
        logger.warn('replication of a chunk failed', { region: row.region, hash: row.hash, error: describeError(err) });
      }
    });
  } finally {
    clearInterval(heartbeat);
  }
  // A region that took a copy is back: its rows that back off because it failed earlier writes
  // (a loss or a short outage the prober never judged unreachable, whose recovery hook then never
  // runs) are due now, not after their exponential backoff, which grows with the outage's length.
  for (const region of tookWrites) {
    try {
      const due = await expediteTargetFaults(db, region, targetFault(region), new Date(clock.now()));
      stats.expedited += due;
    } catch (err) {
      logger.warn('making a recovered region\'s backlog due failed', { region, error: describeError(err) });
    }
  }
  if (stats.failed > 0 || stats.deferred > 0) {
    logger.info('replication batch finished with failures', { ...stats });
  }
  return stats;
}

export type { BacklogStats };

/** The replication backlog and lag (age of its oldest row that can still be made). */
export function backlogStats(db: Db, clock: Clock = systemClock): Promise<BacklogStats> {
  return readBacklogStats(db, clock.now());
}
