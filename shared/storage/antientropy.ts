/**
 * The anti-entropy sweep: compares the catalog with the buckets. For every placement the catalog
 * says is present it checks that the object exists in that region (and, for a sample, that it
 * decodes to its hash). A missing or corrupt copy is marked 'missing', which puts it in the
 * replicator's backlog. The sweep walks the placements in key order, a page at a time, and stops
 * after a bounded number of rows; the returned cursor continues from there on the next run.
 */
import { and, asc, eq, sql } from 'drizzle-orm';
import type { Db } from '../catalog/db.js';
import { chunkPlacements } from '../catalog/schema.js';
import { logger } from '../observability.js';
import { decodeChunk } from './codec.js';
import { chunkKey, type HealthSink, type ObjectStore } from './ports.js';
import { mapLimit } from '../concurrency.js';
import { systemClock, type Clock } from './replicator.js';

export interface SweepCursor {
  ownerId: string;
  hash: string;
  region: string;
}

export interface SweepOptions {
  db: Db;
  stores: ReadonlyMap<string, ObjectStore>;
  health?: HealthSink;
  clock?: Clock;
  /** Where to continue (the previous run's `cursor`); the start of the catalog when absent. */
  cursor?: SweepCursor;
  pageSize?: number;
  /** At most this many placements are checked per run. */
  maxRows?: number;
  /** Share of the checked copies (0..1) that are downloaded and verified against their hash. */
  verifyFraction?: number;
  concurrency?: number;
  /** Consecutive errors after which a region is skipped for the rest of the run. */
  regionErrorLimit?: number;
  random?: () => number;
  /** Epoch ms after which no further page is started; the cursor continues from there next run. */
  deadline?: number;
}

export interface SweepStats {
  checked: number;
  ok: number;
  /** Verified by download (hash checked). */
  verified: number;
  missing: number;
  corrupt: number;
  /** Copies that could not be checked (the region did not answer, or has no store). */
  unreachable: number;
  /** Rows turned from present into missing (queued for repair). */
  markedMissing: number;
  /** Continue from here next time; undefined when the sweep reached the end of the catalog. */
  cursor?: SweepCursor;
}

export async function sweep(opts: SweepOptions): Promise<SweepStats> {
  const { db, stores, health } = opts;
  const clock = opts.clock ?? systemClock;
  const pageSize = opts.pageSize ?? 500;
  const maxRows = opts.maxRows ?? 5000;
  const verifyFraction = opts.verifyFraction ?? 0;
  const random = opts.random ?? Math.random;
  const errorLimit = opts.regionErrorLimit ?? 3;
  const stats: SweepStats = { checked: 0, ok: 0, verified: 0, missing: 0, corrupt: 0, unreachable: 0, markedMissing: 0 };
  const consecutiveErrors = new Map<string, number>();
  const p = chunkPlacements;
  let cursor = opts.cursor;
  let reachedEnd = false;

  while (stats.checked < maxRows && (opts.deadline === undefined || clock.now() < opts.deadline)) {
    const limit = Math.min(pageSize, maxRows - stats.checked);
    const page = await db
      .select({ ownerId: p.ownerId, hash: p.hash, region: p.region })
      .from(p)
      .where(
        cursor
          ? and(eq(p.state, 'present'), sql`(${p.ownerId}, ${p.hash}, ${p.region}) > (${cursor.ownerId}::uuid, ${cursor.hash}, ${cursor.region})`)
          : eq(p.state, 'present'),
      )
      .orderBy(asc(p.ownerId), asc(p.hash), asc(p.region))
      .limit(limit);
    if (page.length === 0) {
      reachedEnd = true;
      break;
    }

    await mapLimit(page, opts.concurrency ?? 8, async (row) => {
      stats.checked += 1;
      const store = stores.get(row.region);
      if (!store || (consecutiveErrors.get(row.region) ?? 0) >= errorLimit) {
        stats.unreachable += 1;
        return;
      }
      const key = chunkKey(row.ownerId, row.hash);
      const verify = verifyFraction > 0 && random() < verifyFraction;
      let problem: 'missing' | 'corrupt' | undefined;
      let detail = '';
      const t0 = clock.now();
      try {
        if (verify) {
          const stored = await store.get(key);
          if (stored === undefined) problem = 'missing';
          else {
            try {
              await decodeChunk(stored, row.hash);
              stats.verified += 1;
            } catch (err) {
              problem = 'corrupt';
              detail = err instanceof Error ? err.message : String(err);
            }
          }
        } else if (!(await store.exists(key))) {
          problem = 'missing';
        }
        consecutiveErrors.set(row.region, 0);
        health?.observe(row.region, { ok: true, latencyMs: clock.now() - t0 });
      } catch (err) {
        consecutiveErrors.set(row.region, (consecutiveErrors.get(row.region) ?? 0) + 1);
        health?.observe(row.region, { ok: false, latencyMs: clock.now() - t0, error: err instanceof Error ? err.message : String(err) });
        stats.unreachable += 1;
        return;
      }
      if (!problem) {
        stats.ok += 1;
        return;
      }
      stats[problem] += 1;
      const now = new Date(clock.now());
      const marked = await db
        .update(p)
        .set({
          state: 'missing',
          pendingSince: now,
          attempts: 0,
          nextAttemptAt: null,
          claimedBy: null,
          claimedUntil: null,
          lastError: `anti-entropy: copy ${problem}${detail ? ` (${detail})` : ''}`.slice(0, 1000),
          updatedAt: now,
        })
        .where(and(eq(p.ownerId, row.ownerId), eq(p.hash, row.hash), eq(p.region, row.region), eq(p.state, 'present')))
        .returning({ region: p.region });
      stats.markedMissing += marked.length;
    });

    const last = page[page.length - 1];
    cursor = last ? { ownerId: last.ownerId, hash: last.hash, region: last.region } : cursor;
    if (page.length < limit) {
      reachedEnd = true;
      break;
    }
  }
  stats.cursor = reachedEnd ? undefined : cursor;
  if (stats.markedMissing > 0 || stats.unreachable > 0) logger.info('anti-entropy sweep found problems', { ...stats });
  return stats;
}
