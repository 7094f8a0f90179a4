/**
 * Garbage collection of chunks, upload sessions and (optionally) old deleted versions.
 *
 * A chunk is garbage when no version references it (live or soft-deleted: a soft-deleted file
 * stays restorable), no unexpired upload session declares it, and its touched_at is older than the
 * grace period. It is deleted from every replica and then from the catalog (placements, then the
 * chunk row), all inside one transaction that holds the chunk row's lock and re-checks the
 * references first. The write path bumps touched_at (an upsert of the chunk row) before it relies
 * on a chunk existing or writes it, so an upload in flight either makes the re-check fail or waits
 * on the lock and then finds the chunk gone and writes it anew: GC never deletes a chunk that an
 * acknowledged write depends on. If a replica fails to delete, the chunk's placements are removed
 * anyway (some copies are gone) and the chunk row stays until a later run finishes the job.
 */
import { and, eq, inArray, isNotNull, isNull, lt, or, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../catalog/db.js';
import { chunkPlacements, chunks, files, fileVersions, uploadSessions, versionChunks } from '../catalog/schema.js';
import { IdempotencyStore } from '../idempotency.js';
import { logger } from '../observability.js';
import { chunkKey, type HealthSink, type ObjectStore } from './ports.js';
import { systemClock, type Clock } from './replicator.js';

export interface GcOptions {
  db: Db;
  stores: ReadonlyMap<string, ObjectStore>;
  health?: HealthSink;
  clock?: Clock;
  /** Unreferenced chunks younger than this (by touched_at) are kept: uploads in flight. */
  graceSeconds: number;
  /** Chunks examined per run. */
  batchSize?: number;
  /**
   * Versions soft-deleted (or of files soft-deleted) longer than this are deleted for good;
   * undefined or 0 keeps them forever (restorable).
   */
  trashRetentionSeconds?: number;
  /** Deadline of each replica delete (ms); keeps the chunk's lock short. */
  deleteTimeoutMs?: number;
  /** Epoch ms after which no further chunk is started (each chunk is one transaction): the rest waits for the next run. */
  deadline?: number;
}

export interface GcStats {
  chunksDeleted: number;
  objectsDeleted: number;
  /** Candidates that turned out to be referenced again, claimed, or touched on re-check. */
  kept: number;
  /** Candidates left for a later run because a replica could not delete. */
  failed: number;
  sessionsPurged: number;
  /** Expired Idempotency-Key records deleted (shared/idempotency.ts). */
  idempotencyPurged?: number;
  versionsPurged: number;
  filesPurged: number;
  /** True when GC did not touch chunks because a replica is judged unreachable. */
  skippedUnreachable: boolean;
}

/** SQL: the chunk (owner, hash columns given) is referenced by a version of one of its owner's files. */
function referencedByVersion(ownerId: SQL | typeof chunks.ownerId, hash: SQL | typeof chunks.hash): SQL {
  return sql`exists (select 1 from ${versionChunks} vc join ${fileVersions} v on v.id = vc.version_id join ${files} f on f.id = v.file_id where vc.chunk_hash = ${hash} and f.owner_id = ${ownerId})`;
}

/** SQL: an unexpired, uncommitted upload session of the owner declares the chunk. */
function declaredBySession(ownerId: SQL | typeof chunks.ownerId, hash: SQL | typeof chunks.hash, now: Date): SQL {
  return sql`exists (select 1 from ${uploadSessions} s where s.owner_id = ${ownerId} and s.committed_at is null and s.expires_at > ${now} and s.chunks @> jsonb_build_array(jsonb_build_object('hash', ${hash}::text)))`;
}

export async function collectGarbage(opts: GcOptions): Promise<GcStats> {
  const { db, stores, health } = opts;
  const clock = opts.clock ?? systemClock;
  const now = new Date(clock.now());
  const stats: GcStats = {
    chunksDeleted: 0,
    objectsDeleted: 0,
    kept: 0,
    failed: 0,
    sessionsPurged: 0,
    versionsPurged: 0,
    filesPurged: 0,
    skippedUnreachable: false,
  };

  // 1. Expired sessions that never committed: their chunks lose their protection and age out.
  const purged = await db
    .delete(uploadSessions)
    .where(and(isNull(uploadSessions.committedAt), lt(uploadSessions.expiresAt, now)))
    .returning({ id: uploadSessions.id });
  stats.sessionsPurged = purged.length;
  // Expired Idempotency-Key records (a claim already treats them as absent; this reclaims the rows).
  stats.idempotencyPurged = await new IdempotencyStore(db, { now: () => clock.now() }).purgeExpired();

  // 2. Optional: versions in the bin longer than the retention are deleted for good.
  if (opts.trashRetentionSeconds && opts.trashRetentionSeconds > 0) {
    const r = await purgeTrash(db, new Date(clock.now() - opts.trashRetentionSeconds * 1000));
    stats.versionsPurged = r.versions;
    stats.filesPurged = r.files;
  }

  // 3. Chunks. Deleting needs every replica: with one unreachable, a copy would be left behind.
  const regions = [...stores.keys()];
  if (health && health.ranked(regions).length < regions.length) {
    stats.skippedUnreachable = true;
    return stats;
  }
  const cutoff = new Date(clock.now() - opts.graceSeconds * 1000);
  const candidates = await db
    .select({ ownerId: chunks.ownerId, hash: chunks.hash })
    .from(chunks)
    .where(and(lt(chunks.touchedAt, cutoff), sql`not ${referencedByVersion(chunks.ownerId, chunks.hash)}`, sql`not ${declaredBySession(chunks.ownerId, chunks.hash, now)}`))
    .limit(opts.batchSize ?? 200);

  for (const c of candidates) {
    if (opts.deadline !== undefined && clock.now() >= opts.deadline) break;
    try {
      const outcome = await db.transaction(async (tx) => {
        // Lock the chunk row: the write path's upsert of this chunk waits until we are done.
        const [locked] = await tx
          .select({ touchedAt: chunks.touchedAt })
          .from(chunks)
          .where(and(eq(chunks.ownerId, c.ownerId), eq(chunks.hash, c.hash)))
          .for('update');
        if (!locked || locked.touchedAt >= cutoff) return 'kept' as const;
        const [refs] = await tx
          .select({
            version: sql<boolean>`${referencedByVersion(sql`${c.ownerId}::uuid`, sql`${c.hash}`)}`,
            session: sql<boolean>`${declaredBySession(sql`${c.ownerId}::uuid`, sql`${c.hash}`, now)}`,
            claimed: sql<boolean>`exists (select 1 from ${chunkPlacements} p where p.owner_id = ${c.ownerId}::uuid and p.hash = ${c.hash} and p.claimed_until > ${now})`,
          })
          .from(sql`(select 1) as one`);
        if (!refs || refs.version || refs.session || refs.claimed) return 'kept' as const;
        const key = chunkKey(c.ownerId, c.hash);
        // Every replica, not only those the catalog lists: a write that timed out may still have landed.
        const results = await Promise.allSettled(
          regions.map((region) => (stores.get(region) as ObjectStore).delete(key, AbortSignal.timeout(opts.deleteTimeoutMs ?? 3000))),
        );
        const failures = results.flatMap((r, i) => (r.status === 'rejected' ? [`${regions[i]}: ${r.reason instanceof Error ? r.reason.message : String(r.reason)}`] : []));
        stats.objectsDeleted += regions.length - failures.length;
        // Some copies may be gone now, so no placement may claim a copy any more. With a failure the
        // chunk row stays (no copies listed): the next run finishes, and an upload that touches it in
        // between finds no holder and writes it anew.
        await tx.delete(chunkPlacements).where(and(eq(chunkPlacements.ownerId, c.ownerId), eq(chunkPlacements.hash, c.hash)));
        if (failures.length > 0) return { failed: failures.join('; ') };
        await tx.delete(chunks).where(and(eq(chunks.ownerId, c.ownerId), eq(chunks.hash, c.hash)));
        return 'deleted' as const;
      });
      if (outcome === 'deleted') stats.chunksDeleted += 1;
      else if (outcome === 'kept') stats.kept += 1;
      else {
        stats.failed += 1;
        logger.warn('garbage collection could not delete every copy of a chunk; a later run finishes', { hash: c.hash, error: outcome.failed });
      }
    } catch (err) {
      stats.failed += 1;
      logger.warn('garbage collection of a chunk failed; it stays for a later run', {
        hash: c.hash,
        error: err instanceof Error ? err.message : String(err),
      });
    }
  }
  if (stats.chunksDeleted > 0 || stats.failed > 0 || stats.sessionsPurged > 0) logger.info('garbage collection finished', { ...stats });
  return stats;
}

/**
 * Delete for good the versions soft-deleted before `before`, and the files soft-deleted before it
 * with all their versions. Their chunks then become unreferenced and age out through GC.
 */
export async function purgeTrash(db: Db, before: Date): Promise<{ versions: number; files: number }> {
  return db.transaction(async (tx) => {
    const deadFiles = await tx
      .select({ id: files.id })
      .from(files)
      .where(and(isNotNull(files.deletedAt), lt(files.deletedAt, before)));
    const fileIds = deadFiles.map((f) => f.id);
    const versionFilter = fileIds.length
      ? or(inArray(fileVersions.fileId, fileIds), and(isNotNull(fileVersions.deletedAt), lt(fileVersions.deletedAt, before)))
      : and(isNotNull(fileVersions.deletedAt), lt(fileVersions.deletedAt, before));
    const versions = await tx.select({ id: fileVersions.id }).from(fileVersions).where(versionFilter);
    const versionIds = versions.map((v) => v.id);
    if (versionIds.length > 0) {
      await tx.delete(versionChunks).where(inArray(versionChunks.versionId, versionIds));
      await tx.delete(fileVersions).where(inArray(fileVersions.id, versionIds));
    }
    if (fileIds.length > 0) await tx.delete(files).where(inArray(files.id, fileIds));
    return { versions: versionIds.length, files: fileIds.length };
  });
}
