/**
 * Chunks and their placements: touching a chunk (GC re-checks touched_at under the row lock),
 * recording a chunk with its present and pending copies, moving a copy pending → present or
 * present → missing, and the reads of which regions hold which chunks. The replication backlog's
 * own statements (claims, counts, lag) are in ./backlog-repository.ts.
 */
import { and, eq, inArray, sql, type SQL } from 'drizzle-orm';
import { BATCH, prepared, queryRows, type Db } from './db.js';
import { chunkPlacements, chunks, type PlacementState } from './schema.js';

export interface Placement {
  region: string;
  state: PlacementState;
}

/** A chunk stored on the replicas, and where its copies are (present) or may still land (pending). */
export interface ChunkRecord {
  ownerId: string;
  hash: string;
  size: number;
  storedSize: number;
  compressed: boolean;
  holders: string[];
  pending: string[];
}

/**
 * The two writes that record a chunk: the chunk row (an upsert that only touches a known chunk)
 * and, when it has copies, the upsert of its placements. A present copy always wins; a pending one
 * never demotes a present row. Run as one statement (recordChunk), or as two CTEs of a larger one
 * (the one-statement commit, ./usage-repository.ts).
 */
export function recordChunkStatements(c: ChunkRecord, now: Date): { chunk: SQL; copies: SQL | undefined } {
  const { ownerId, hash } = c;
  const at = sql`${now.toISOString()}::timestamptz`;
  const rows = [
    ...c.holders.map((region) => sql`(${ownerId}::uuid, ${hash}, ${region}, 'present', null::timestamptz, null::timestamptz, ${at})`),
    ...c.pending.map((region) => sql`(${ownerId}::uuid, ${hash}, ${region}, 'pending', ${at}, ${at}, ${at})`),
  ];
  const chunk = sql`insert into ${chunks} (owner_id, hash, size, stored_size, compressed, created_at, touched_at)
      values (${ownerId}, ${hash}, ${c.size}, ${c.storedSize}, ${c.compressed}, ${at}, ${at})
      on conflict (owner_id, hash) do update set touched_at = excluded.touched_at`;
  if (rows.length === 0) return { chunk, copies: undefined };
  const copies = sql`insert into ${chunkPlacements} (owner_id, hash, region, state, pending_since, next_attempt_at, updated_at)
      select * from (values ${sql.join(rows, sql`, `)}) as v(owner_id, hash, region, state, pending_since, next_attempt_at, updated_at)
      on conflict (owner_id, hash, region) do update set
        state = excluded.state,
        pending_since = case when excluded.state = 'present' then null else coalesce(${chunkPlacements.pendingSince}, excluded.pending_since) end,
        attempts = case when excluded.state = 'present' then 0 else ${chunkPlacements.attempts} end,
        next_attempt_at = case when excluded.state = 'present' then null else ${chunkPlacements.nextAttemptAt} end,
        claimed_by = case when excluded.state = 'present' then null else ${chunkPlacements.claimedBy} end,
        claimed_until = case when excluded.state = 'present' then null else ${chunkPlacements.claimedUntil} end,
        last_error = case when excluded.state = 'present' then null else ${chunkPlacements.lastError} end,
        updated_at = excluded.updated_at
      where excluded.state = 'present' or ${chunkPlacements.state} <> 'present'`;
  return { chunk, copies };
}

/** The catalog's chunks and placements, as the data path sees them. */
export interface ChunkRepository {
  /**
   * Touch a known chunk (GC re-checks touched_at under the row lock) and read its placements, in
   * one statement; undefined when the chunk is unknown.
   */
  touchChunk(ownerId: string, hash: string, now: Date): Promise<{ storedSize: number; compressed: boolean; placements: Placement[] } | undefined>;
  touchChunks(ownerId: string, hashes: readonly string[], now: Date): Promise<void>;
  placements(ownerId: string, hash: string): Promise<Placement[]>;
  placementsOf(ownerId: string, hashes: readonly string[]): Promise<(Placement & { hash: string })[]>;
  /** Record a chunk with its present and pending copies, in one statement. */
  recordChunk(c: ChunkRecord, now: Date): Promise<void>;
  /** Pending copies in these regions have landed: present (a copy found bad meanwhile stays queued). */
  markPresent(ownerId: string, hash: string, regions: readonly string[], now: Date): Promise<void>;
  /** present → missing (a bad copy joins the repair backlog). */
  markMissing(ownerId: string, hash: string, region: string, reason: string, now: Date): Promise<void>;
  /** Of `hashes`, those with at least `need` present copies. */
  hashesWithCopies(ownerId: string, hashes: readonly string[], need: number): Promise<Set<string>>;
}

export class DrizzleChunkRepository implements ChunkRepository {
  constructor(readonly db: Db) {}

  async touchChunk(ownerId: string, hash: string, now: Date) {
    const rows = await queryRows<{ stored_size: number | string; compressed: boolean; region: string | null; state: PlacementState | null }>(
      this.db,
      // Every chunk write runs it first (one shape): prepared once per connection (see `prepared`).
      prepared(sql`with t as (update ${chunks} set touched_at = ${now.toISOString()}::timestamptz where owner_id = ${ownerId} and hash = ${hash} returning stored_size, compressed)
          select t.stored_size, t.compressed, p.region, p.state from t
          left join ${chunkPlacements} p on p.owner_id = ${ownerId} and p.hash = ${hash}`),
    );
    const first = rows[0];
    if (!first) return undefined;
    return {
      storedSize: Number(first.stored_size),
      compressed: first.compressed === true,
      placements: rows.flatMap((r) => (r.region && r.state ? [{ region: r.region, state: r.state }] : [])),
    };
  }

  async touchChunks(ownerId: string, hashes: readonly string[], now: Date): Promise<void> {
    for (let i = 0; i < hashes.length; i += BATCH) {
      await this.db.update(chunks).set({ touchedAt: now }).where(and(eq(chunks.ownerId, ownerId), inArray(chunks.hash, hashes.slice(i, i + BATCH))));
    }
  }

  placements(ownerId: string, hash: string): Promise<Placement[]> {
    return this.db
      .select({ region: chunkPlacements.region, state: chunkPlacements.state })
      .from(chunkPlacements)
      .where(and(eq(chunkPlacements.ownerId, ownerId), eq(chunkPlacements.hash, hash)));
  }

  async placementsOf(ownerId: string, hashes: readonly string[]) {
    if (hashes.length === 0) return [];
    return this.db
      .select({ hash: chunkPlacements.hash, region: chunkPlacements.region, state: chunkPlacements.state })
      .from(chunkPlacements)
      .where(and(eq(chunkPlacements.ownerId, ownerId), inArray(chunkPlacements.hash, [...hashes])));
  }

  async recordChunk(c: ChunkRecord, now: Date): Promise<void> {
    const { chunk, copies } = recordChunkStatements(c, now);
    if (!copies) {
      await this.db.execute(chunk);
      return;
    }
    // One statement (atomic without a transaction): the chunk row, then its copies.
    await this.db.execute(sql`with c as (${chunk} returning 1) ${copies}`);
  }

  async markPresent(ownerId: string, hash: string, regions: readonly string[], now: Date): Promise<void> {
    if (regions.length === 0) return;
    await this.db
      .update(chunkPlacements)
      .set({ state: 'present', pendingSince: null, attempts: 0, nextAttemptAt: null, claimedBy: null, claimedUntil: null, lastError: null, updatedAt: now })
      .where(and(eq(chunkPlacements.ownerId, ownerId), eq(chunkPlacements.hash, hash), inArray(chunkPlacements.region, [...regions]), eq(chunkPlacements.state, 'pending')));
  }

  async markMissing(ownerId: string, hash: string, region: string, reason: string, now: Date): Promise<void> {
    await this.db
      .update(chunkPlacements)
      .set({ state: 'missing', pendingSince: now, nextAttemptAt: now, lastError: reason.slice(0, 500), updatedAt: now })
      .where(and(eq(chunkPlacements.ownerId, ownerId), eq(chunkPlacements.hash, hash), eq(chunkPlacements.region, region), eq(chunkPlacements.state, 'present')));
  }

  async hashesWithCopies(ownerId: string, hashes: readonly string[], need: number): Promise<Set<string>> {
    const have = new Set<string>();
    for (let i = 0; i < hashes.length; i += BATCH) {
      const rows = await this.db
        .select({ hash: chunkPlacements.hash })
        .from(chunkPlacements)
        .where(and(eq(chunkPlacements.ownerId, ownerId), eq(chunkPlacements.state, 'present'), inArray(chunkPlacements.hash, hashes.slice(i, i + BATCH))))
        .groupBy(chunkPlacements.hash)
        .having(sql`count(*) >= ${need}`);
      for (const r of rows) have.add(r.hash);
    }
    return have;
  }
}
