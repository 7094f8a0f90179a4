/**
 * The replication backlog's SQL: placement rows in state pending or missing. Claiming a batch,
 * the counts and the lag (only copies that can still be made: a row counts when some region holds
 * a present copy of its chunk), the oldest rows for the status page, making rows due at once
 * (a region came back, a source appeared), and resolving rows whose chunk no region holds (an
 * unacknowledged write's rows are dropped, leaving the bytes to GC; an acknowledged chunk's rows
 * are parked and reported as unrecoverable).
 */
import { and, asc, eq, inArray, isNull, lt, lte, or, sql, type SQL } from 'drizzle-orm';
import type { Db } from './db.js';
import { chunkPlacements, files, fileVersions, versionChunks, type PlacementState } from './schema.js';

const p = chunkPlacements;

/** SQL: some region holds a present copy of the chunk of the placement row `p` (the outer row). */
export const hasSource: SQL = sql`exists (select 1 from ${chunkPlacements} h where h.owner_id = ${p.ownerId} and h.hash = ${p.hash} and h.state = 'present')`;

/** SQL: a version of one of the owner's files (live, in the bin or older) references the chunk of row `p`. */
const referencedByVersion: SQL = sql`exists (select 1 from ${versionChunks} vc join ${fileVersions} v on v.id = vc.version_id join ${files} f on f.id = v.file_id where vc.chunk_hash = ${p.hash} and f.owner_id = ${p.ownerId})`;

export interface BacklogRowKey {
  ownerId: string;
  hash: string;
  region: string;
}

export interface ClaimedRow extends BacklogRowKey {
  attempts: number;
}

export function rowKey(r: BacklogRowKey) {
  return and(eq(p.ownerId, r.ownerId), eq(p.hash, r.hash), eq(p.region, r.region));
}

/**
 * Claim up to `limit` backlog rows for `workerId` in one statement. Rows locked by a concurrent
 * claimer are skipped (SKIP LOCKED), and rows already claimed under an unexpired lease do not
 * qualify, so two workers never hold the same row. On PGlite (one connection) statements simply
 * run one after another, which gives the same guarantee.
 */
export async function claimBacklog(
  db: Db,
  o: { workerId: string; limit: number; now: Date; leaseUntil: Date; regions: readonly string[] },
): Promise<ClaimedRow[]> {
  if (o.regions.length === 0 || o.limit <= 0) return [];
  const candidates = db
    .select({ ownerId: p.ownerId, hash: p.hash, region: p.region })
    .from(p)
    .where(
      and(
        inArray(p.state, ['pending', 'missing']),
        inArray(p.region, [...o.regions]),
        or(isNull(p.nextAttemptAt), lte(p.nextAttemptAt, o.now)),
        or(isNull(p.claimedUntil), lt(p.claimedUntil, o.now)),
      ),
    )
    .orderBy(asc(p.pendingSince), asc(p.ownerId), asc(p.hash), asc(p.region))
    .limit(o.limit)
    .for('update', { skipLocked: true });
  return db
    .update(p)
    .set({ claimedBy: o.workerId, claimedUntil: o.leaseUntil })
    .where(sql`(${p.ownerId}, ${p.hash}, ${p.region}) in ${candidates}`)
    .returning({ ownerId: p.ownerId, hash: p.hash, region: p.region, attempts: p.attempts });
}

export interface BacklogStats {
  pending: number;
  missing: number;
  /** Rows whose chunk no region holds a present copy of: no copy can be made from the catalog's sources. */
  unrecoverable: number;
  /**
   * Age of the oldest row that can still be made (some region holds a present copy of its chunk),
   * in ms; 0 when there is none. This is the replication lag the controller sees.
   */
  oldestPendingAgeMs: number;
}

/** The replication backlog: counts, and the lag over the copies that can still be made. */
export async function readBacklogStats(db: Db, nowMs: number): Promise<BacklogStats> {
  const [row] = await db
    .select({
      pending: sql<number>`count(*) filter (where ${p.state} = 'pending')`.mapWith(Number),
      missing: sql<number>`count(*) filter (where ${p.state} = 'missing')`.mapWith(Number),
      unrecoverable: sql<number>`count(*) filter (where not ${hasSource})`.mapWith(Number),
      oldestMs: sql<number | null>`(extract(epoch from min(${p.pendingSince}) filter (where ${hasSource})) * 1000)::float8`,
    })
    .from(p)
    .where(inArray(p.state, ['pending', 'missing']));
  const oldest = row?.oldestMs === null || row?.oldestMs === undefined ? undefined : Number(row.oldestMs);
  return {
    pending: row?.pending ?? 0,
    missing: row?.missing ?? 0,
    unrecoverable: row?.unrecoverable ?? 0,
    oldestPendingAgeMs: oldest === undefined || !Number.isFinite(oldest) ? 0 : Math.max(0, nowMs - oldest),
  };
}

export interface PendingCopyRow {
  region: string;
  state: PlacementState;
  pendingSince: Date | null;
  attempts: number;
  lastError: string | null;
  nextAttemptAt: Date | null;
  /** Some region holds a present copy of the chunk. */
  hasSource: boolean;
}

/** The `limit` oldest backlog rows (oldest pending first). */
export async function oldestPending(db: Db, limit: number): Promise<PendingCopyRow[]> {
  if (limit <= 0) return [];
  const rows = await db
    .select({
      region: p.region,
      state: p.state,
      pendingSince: p.pendingSince,
      attempts: p.attempts,
      lastError: p.lastError,
      nextAttemptAt: p.nextAttemptAt,
      hasSource: sql<number>`case when ${hasSource} then 1 else 0 end`.mapWith(Number),
    })
    .from(p)
    .where(inArray(p.state, ['pending', 'missing']))
    .orderBy(sql`${p.pendingSince} asc nulls last`, asc(p.ownerId), asc(p.hash), asc(p.region))
    .limit(limit);
  return rows.map((r) => ({ ...r, hasSource: r.hasSource === 1 }));
}

/**
 * When a region is judged reachable again, the backlog rows that were backing off because it was
 * down become due at once: its own rows (it could not take copies) and the rows of other regions
 * whose chunk it holds (it was their source), so convergence after a heal does not wait for the
 * longest row backoff. Returns the number of rows made due.
 */
export async function expediteRegions(db: Db, regions: readonly string[], now: Date = new Date()): Promise<number> {
  if (regions.length === 0) return 0;
  const list = sql.join(
    regions.map((r) => sql`${r}`),
    sql`, `,
  );
  const rows = await db
    .update(p)
    .set({ nextAttemptAt: now })
    .where(
      and(
        inArray(p.state, ['pending', 'missing']),
        or(isNull(p.nextAttemptAt), sql`${p.nextAttemptAt} > ${now}`),
        or(
          inArray(p.region, [...regions]),
          sql`exists (select 1 from chunk_placements h where h.owner_id = "chunk_placements"."owner_id" and h.hash = "chunk_placements"."hash" and h.state = 'present' and h.region in (${list}))`,
        ),
      ),
    )
    .returning({ region: p.region });
  return rows.length;
}

/**
 * The rows of `region` that wait out a backoff because the region refused or missed a write
 * (their last error starts with `errorPrefix`) and that no worker holds become due at once: the
 * region took a write again, so the reason for their wait is gone. Rows waiting for another reason
 * (no usable source, a parked unrecoverable chunk) keep their schedule.
 */
export async function expediteTargetFaults(db: Db, region: string, errorPrefix: string, now: Date): Promise<number> {
  const rows = await db
    .update(p)
    .set({ nextAttemptAt: now })
    .where(
      and(
        eq(p.region, region),
        inArray(p.state, ['pending', 'missing']),
        sql`${p.nextAttemptAt} > ${now}`,
        sql`starts_with(${p.lastError}, ${errorPrefix})`,
        or(isNull(p.claimedUntil), lte(p.claimedUntil, now)),
      ),
    )
    .returning({ region: p.region });
  return rows.length;
}

/**
 * Hand back claims on the backlog left by a process that is gone (a crash), rather than leave
 * their rows to wait out the lease. `workerPrefix` given: only the claims whose worker id starts
 * with it (a catalog shared with other processes, where this one knows which process is gone: the
 * local runtime's previous process on the data dir whose lock it now holds). Omitted: every claim,
 * only for a catalog no other process can be using (the embedded one, under the data dir's lock).
 * Returns the number of rows released.
 */
export async function releaseClaims(db: Db, workerPrefix?: string): Promise<number> {
  if (workerPrefix === '') throw new Error('an empty worker prefix would release every claim: omit it for that');
  const rows = await db
    .update(p)
    .set({ claimedBy: null, claimedUntil: null })
    .where(
      and(
        inArray(p.state, ['pending', 'missing']),
        workerPrefix === undefined ? sql`${p.claimedBy} is not null` : sql`starts_with(${p.claimedBy}, ${workerPrefix})`,
      ),
    )
    .returning({ region: p.region });
  return rows.length;
}

/** A chunk gained a present copy: its other backlog rows that are not claimed become due at once. */
export async function expediteChunk(db: Db, ownerId: string, hash: string, now: Date): Promise<number> {
  const rows = await db
    .update(p)
    .set({ nextAttemptAt: now })
    .where(
      and(
        eq(p.ownerId, ownerId),
        eq(p.hash, hash),
        inArray(p.state, ['pending', 'missing']),
        or(isNull(p.claimedUntil), lt(p.claimedUntil, now)),
        or(isNull(p.nextAttemptAt), sql`${p.nextAttemptAt} > ${now}`),
      ),
    )
    .returning({ region: p.region });
  return rows.length;
}

/**
 * Drop a claimed backlog row whose chunk no region holds and no version references: what is left
 * of a write that was not acknowledged. The bytes that may have landed stay for GC (the chunk row
 * is kept; GC deletes an unreferenced chunk from every replica). Checked in the statement itself,
 * so a write that meanwhile recorded a present copy, or a commit that now references the chunk,
 * keeps the row. Returns true when the row was dropped.
 */
export async function dropUnheldRow(db: Db, row: BacklogRowKey, workerId: string): Promise<boolean> {
  const gone = await db
    .delete(p)
    .where(and(rowKey(row), eq(p.claimedBy, workerId), inArray(p.state, ['pending', 'missing']), sql`not ${hasSource}`, sql`not ${referencedByVersion}`))
    .returning({ region: p.region });
  return gone.length > 0;
}

/** Whether some region now holds a present copy of the chunk. */
export async function chunkHasSource(db: Db, ownerId: string, hash: string): Promise<boolean> {
  const [row] = await db
    .select({ region: p.region })
    .from(p)
    .where(and(eq(p.ownerId, ownerId), eq(p.hash, hash), eq(p.state, 'present')))
    .limit(1);
  return row !== undefined;
}
