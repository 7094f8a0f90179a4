/**
 * What an owner stores and the running usage counter that the quota reads: committing a version
 * (file, version, manifest, chunk touch, session mark and counter in one transaction), soft delete
 * and undelete. Each locks the owner's row first, so an owner's commits, deletes and restores are
 * serialised and the counter and the name checks cannot race. Also the usage reads.
 */
import { eq, sql, type SQL } from 'drizzle-orm';
import { Conflict, NotFound } from '../errors.js';
import type { Mode } from '../config.js';
import { BATCH, prepared, queryRows, type Db } from './db.js';
import type { FileRow, VersionRow } from './file-repository.js';
import { recordChunkStatements, type ChunkRecord } from './chunk-repository.js';
import { chunks, files, fileVersions, uploadSessions, users, versionChunks } from './schema.js';

export interface NewVersion {
  name: string;
  size: number;
  sha256: string;
  contentType: string;
  chunks: { hash: string; size: number }[];
  mode: Mode;
  sessionId?: string;
}

/** The owner's usage and the writes that move it. */
export interface UsageRepository {
  /** Bytes counted against the quota: every kept version of every live file (a running counter). */
  usedBytes(ownerId: string): Promise<number>;
  /** Bytes of a file's kept versions. */
  fileBytes(fileId: string): Promise<number>;
  /**
   * Commit a version in one transaction (the owner row locked, so quota and name checks cannot
   * race): `check` sees the live file of that name and the bytes used, and may throw to abort.
   */
  commitVersion(ownerId: string, v: NewVersion, now: Date, check: (existing: FileRow | undefined, usedBytes: number) => void): Promise<{ f: FileRow; v: VersionRow; compressed: boolean }>;
  /**
   * The same commit as one statement (one round trip, no transaction), taken only when the
   * conditions hold on the state it reads under the owner's row lock: the live file of that name
   * at `currentVersion` (0: none) when given, at most `usedAtMost` bytes used, the session (if any)
   * not yet committed, and the live file unchanged since the statement's snapshot. Returns
   * undefined when a condition fails (nothing of the commit is written: the caller takes the
   * transactional path, which says why); a unique violation (a racing writer) rejects. `record`, a
   * chunk just stored on the replicas, is recorded by the same statement whether or not it commits.
   */
  commitVersionIf(
    ownerId: string,
    v: NewVersion,
    now: Date,
    conditions: { currentVersion?: number; usedAtMost: number },
    record?: ChunkRecord,
  ): Promise<{ f: FileRow; v: VersionRow; compressed: boolean } | undefined>;
  softDelete(ownerId: string, fileId: string, now: Date): Promise<void>;
  /** Undelete; rejects with the database's error on a name clash. */
  undelete(ownerId: string, fileId: string, now: Date): Promise<void>;
}

/** The file and version rows a commit wrote, from the ids and times its statement returned. */
function committedRows(
  written: { file_id: string; file_created_at: string | Date; version_id: string },
  ownerId: string,
  input: NewVersion,
  version: number,
  now: Date,
): { f: FileRow; v: VersionRow } {
  const f: FileRow = { id: written.file_id, ownerId, name: input.name, currentVersion: version, createdAt: new Date(written.file_created_at), updatedAt: now, deletedAt: null };
  const v: VersionRow = {
    id: written.version_id,
    fileId: written.file_id,
    version,
    size: input.size,
    sha256: input.sha256,
    chunkCount: input.chunks.length,
    contentType: input.contentType,
    mode: input.mode,
    createdAt: now,
    deletedAt: null,
  };
  return { f, v };
}

export class DrizzleUsageRepository implements UsageRepository {
  constructor(readonly db: Db) {}

  async usedBytes(ownerId: string): Promise<number> {
    const [u] = await this.db.select({ n: users.usedBytes }).from(users).where(eq(users.id, ownerId));
    return Number(u?.n ?? 0);
  }

  async fileBytes(fileId: string): Promise<number> {
    const [own] = await queryRows<{ n: string | number | null }>(
      this.db,
      sql`select coalesce(sum(size), 0) as n from ${fileVersions} where file_id = ${fileId} and deleted_at is null`,
    );
    return Number(own?.n ?? 0);
  }

  /**
   * One transaction of three statements: lock the owner's row (which serialises the owner's
   * commits, deletes and restores, so the usage counter and the name checks cannot race), read the
   * live file of that name with its last version number and the session's state (a fresh snapshot
   * after the lock), then write everything in one statement: file, version, manifest, the chunks'
   * touch, the session's commit mark and the usage counter.
   */
  commitVersion(ownerId: string, input: NewVersion, now: Date, check: (existing: FileRow | undefined, usedBytes: number) => void) {
    return this.db.transaction(async (tx) => {
      const [u] = await tx.select({ used: users.usedBytes }).from(users).where(eq(users.id, ownerId)).for('update');
      if (!u) throw new NotFound('No such user.', 'user_not_found');
      const [state] = await queryRows<{ file_id: string | null; current_version: number | null; created_at: string | Date | null; max_version: number | string | null; session_found: boolean | null; session_committed: boolean | null }>(
        tx,
        sql`select f.id as file_id, f.current_version, f.created_at,
              (select max(v.version) from ${fileVersions} v where v.file_id = f.id) as max_version,
              ${input.sessionId ? sql`(select true from ${uploadSessions} s where s.id = ${input.sessionId})` : sql`null::boolean`} as session_found,
              ${input.sessionId ? sql`(select s.committed_at is not null from ${uploadSessions} s where s.id = ${input.sessionId})` : sql`null::boolean`} as session_committed
            from (select 1) one
            left join ${files} f on f.owner_id = ${ownerId} and f.name = ${input.name} and f.deleted_at is null`,
      );
      if (input.sessionId) {
        if (!state?.session_found) throw new NotFound('No such upload session.', 'upload_not_found');
        if (state.session_committed) throw new Conflict('This upload session was already committed.', 'upload_committed');
      }
      const existing: FileRow | undefined = state?.file_id
        ? { id: state.file_id, ownerId, name: input.name, currentVersion: Number(state.current_version), createdAt: new Date(state.created_at as string), updatedAt: now, deletedAt: null }
        : undefined;
      check(existing, Number(u.used));
      const version = existing ? Number(state?.max_version ?? 0) + 1 : 1;
      const at = sql`${now.toISOString()}::timestamptz`;
      const first = input.chunks.slice(0, BATCH);
      const list = (batch: { hash: string; size: number }[], offset: number) =>
        sql`(values ${sql.join(batch.map((c, j) => sql`(${offset + j}::int, ${c.hash}::text, ${c.size}::int)`), sql`, `)}) as x(idx, hash, size)`;
      const fileCte = existing
        ? sql`f as (update ${files} set current_version = ${version}, updated_at = ${at} where id = ${existing.id} returning id, created_at)`
        : sql`f as (insert into ${files} (owner_id, name, current_version, created_at, updated_at) values (${ownerId}, ${input.name}, 1, ${at}, ${at}) returning id, created_at)`;
      const [written] = await queryRows<{ file_id: string; file_created_at: string | Date; version_id: string; compressed: boolean | null }>(
        tx,
        sql`with ${fileCte},
            v as (insert into ${fileVersions} (file_id, version, size, sha256, chunk_count, content_type, mode, created_at)
                  select f.id, ${version}, ${input.size}, ${input.sha256}, ${input.chunks.length}, ${input.contentType}, ${input.mode}, ${at} from f returning id),
            ${first.length > 0 ? sql`vc as (insert into ${versionChunks} (version_id, idx, chunk_hash, size) select v.id, x.idx, x.hash, x.size from v, ${list(first, 0)} returning 1),
            t as (update ${chunks} set touched_at = ${at} where owner_id = ${ownerId} and hash in (select x.hash from ${list(first, 0)}) returning compressed),` : sql``}
            ${input.sessionId ? sql`s as (update ${uploadSessions} set committed_at = ${at} where id = ${input.sessionId} returning 1),` : sql``}
            u as (update ${users} set used_bytes = used_bytes + ${input.size} where id = ${ownerId} returning 1)
          select f.id as file_id, f.created_at as file_created_at, v.id as version_id,
            ${first.length > 0 ? sql`(select bool_or(compressed) from t)` : sql`false`} as compressed
          from f, v`,
      );
      if (!written) throw new Error('version row was not created');
      let compressed = written.compressed === true;
      // Manifests beyond the first batch: one more statement per batch of chunks.
      for (let i = BATCH; i < input.chunks.length; i += BATCH) {
        const batch = input.chunks.slice(i, i + BATCH);
        const [more] = await queryRows<{ compressed: boolean | null }>(
          tx,
          sql`with vc as (insert into ${versionChunks} (version_id, idx, chunk_hash, size) select ${written.version_id}::uuid, x.idx, x.hash, x.size from ${list(batch, i)} returning 1),
              t as (update ${chunks} set touched_at = ${at} where owner_id = ${ownerId} and hash in (select x.hash from ${list(batch, i)}) returning compressed)
            select bool_or(compressed) as compressed from t`,
        );
        compressed ||= more?.compressed === true;
      }
      return { ...committedRows(written, ownerId, input, version, now), compressed };
    });
  }

  /**
   * One statement. `lk` locks the owner's row (serialising the owner's commits, deletes and
   * restores) and, having waited for a writer holding it, sees that writer's row: the quota is
   * checked on the latest usage. `sl` locks the session row the same way (a session commits once).
   * The live file of that name (`cur`) is read from the statement's snapshot, which may predate a
   * writer the lock waited for; what such a writer could have changed is re-checked where it is
   * written, on the row as that writer left it: the file's update requires it to still be live and
   * of that name (a delete or rename in between leaves it untouched) and, under If-Match, at the
   * version read; a write without If-Match takes the number after both the row's current version
   * and the highest version read, so a same-name write committed in between does not send it to the
   * transaction (numbers stay dense: each commit sets the current version to the number it took).
   * An insert under a name taken meanwhile, or a version number taken, is a unique violation. Every write of
   * the commit depends on the gate (`ok`) through `f`, the file row updated or inserted; the chunk
   * record does not. Where `f` is empty, nothing of the commit is written.
   */
  async commitVersionIf(ownerId: string, input: NewVersion, now: Date, conditions: { currentVersion?: number; usedAtMost: number }, record?: ChunkRecord) {
    if (input.chunks.length > BATCH) return undefined;
    const at = sql`${now.toISOString()}::timestamptz`;
    const list = sql`(values ${sql.join(input.chunks.map((c, j) => sql`(${j}::int, ${c.hash}::text, ${c.size}::int)`), sql`, `)}) as x(idx, hash, size)`;
    const recorded = record ? recordChunkStatements(record, now) : undefined;
    // The recorded chunk's row is written by its own upsert: a row may be changed once per statement.
    const touched = input.chunks.some((c) => c.hash !== record?.hash);
    // Every small write runs this statement: with at most one chunk it has few shapes, prepared
    // once per connection on a PostgreSQL server (see `prepared`).
    const statement = (q: SQL) => (input.chunks.length <= 1 ? prepared(q) : q);
    const [written] = await queryRows<{ file_id: string; file_created_at: string | Date; version: number | string; version_id: string; compressed: boolean | null }>(
      this.db,
      statement(sql`with lk as (select used_bytes from ${users} where id = ${ownerId} for update),
          ${input.sessionId ? sql`sl as (select id from ${uploadSessions} where id = ${input.sessionId}::uuid and committed_at is null for update),` : sql``}
          cur as (select f.id, f.current_version, (select max(v.version) from ${fileVersions} v where v.file_id = f.id) as max_version
                  from ${files} f where f.owner_id = ${ownerId} and f.name = ${input.name} and f.deleted_at is null),
          ok as (select 1 as ok from lk where lk.used_bytes <= ${conditions.usedAtMost}::bigint
                 ${conditions.currentVersion === undefined ? sql`` : sql`and coalesce((select current_version from cur), 0) = ${conditions.currentVersion}::int`}
                 ${input.sessionId ? sql`and exists (select 1 from sl)` : sql``}),
          fu as (update ${files} set current_version = greatest(${files.currentVersion}, coalesce(cur.max_version, 0)) + 1, updated_at = ${at} from cur
                 where ${files.id} = cur.id and ${files.deletedAt} is null and ${files.name} = ${input.name}
                   ${conditions.currentVersion === undefined ? sql`` : sql`and ${files.currentVersion} = cur.current_version`}
                   and exists (select 1 from ok)
                 returning ${files.id} as id, ${files.createdAt} as created_at, ${files.currentVersion} as version),
          fi as (insert into ${files} (owner_id, name, current_version, created_at, updated_at)
                 select ${ownerId}::uuid, ${input.name}::text, 1, ${at}, ${at} where not exists (select 1 from cur) and exists (select 1 from ok)
                 returning id, created_at, current_version as version),
          f as (select id, created_at, version from fu union all select id, created_at, version from fi),
          v as (insert into ${fileVersions} (file_id, version, size, sha256, chunk_count, content_type, mode, created_at)
                select f.id, f.version, ${input.size}::bigint, ${input.sha256}::text, ${input.chunks.length}::int, ${input.contentType}::text, ${input.mode}::text, ${at} from f returning id),
          ${input.chunks.length > 0 ? sql`vc as (insert into ${versionChunks} (version_id, idx, chunk_hash, size) select v.id, x.idx, x.hash, x.size from v, ${list} returning 1),` : sql``}
          ${touched ? sql`t as (update ${chunks} set touched_at = ${at} where owner_id = ${ownerId} and hash in (select x.hash from ${list})
                 ${record ? sql`and hash <> ${record.hash}` : sql``} and exists (select 1 from f) returning compressed),` : sql``}
          ${input.sessionId ? sql`s as (update ${uploadSessions} set committed_at = ${at} where id = ${input.sessionId}::uuid and exists (select 1 from f) returning 1),` : sql``}
          ${recorded ? sql`rc as (${recorded.chunk} returning 1),` : sql``}
          ${recorded?.copies ? sql`rp as (${recorded.copies} returning 1),` : sql``}
          u as (update ${users} set used_bytes = used_bytes + ${input.size} where id = ${ownerId} and exists (select 1 from f) returning 1)
        select f.id as file_id, f.created_at as file_created_at, f.version, v.id as version_id,
          ${touched ? sql`(select bool_or(compressed) from t)` : sql`false`} as compressed
        from f, v`),
    );
    if (!written) return undefined;
    const version = Number(written.version);
    return { ...committedRows(written, ownerId, input, version, now), compressed: written.compressed === true || record?.compressed === true };
  }

  /** Soft delete in one statement: the file leaves the live set and its bytes leave the owner's usage. */
  async softDelete(ownerId: string, fileId: string, now: Date): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.select({ id: users.id }).from(users).where(eq(users.id, ownerId)).for('update');
      await tx.execute(sql`with f as (update ${files} set deleted_at = ${now.toISOString()}::timestamptz where id = ${fileId} and owner_id = ${ownerId} and deleted_at is null returning id)
        update ${users} set used_bytes = used_bytes - coalesce((select sum(v.size) from ${fileVersions} v where v.file_id in (select id from f) and v.deleted_at is null), 0)
        where id = ${ownerId} and exists (select 1 from f)`);
    });
  }

  async undelete(ownerId: string, fileId: string, now: Date): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.select({ id: users.id }).from(users).where(eq(users.id, ownerId)).for('update');
      await tx.execute(sql`with f as (update ${files} set deleted_at = null, updated_at = ${now.toISOString()}::timestamptz where id = ${fileId} and owner_id = ${ownerId} and deleted_at is not null returning id)
        update ${users} set used_bytes = used_bytes + coalesce((select sum(v.size) from ${fileVersions} v where v.file_id in (select id from f) and v.deleted_at is null), 0)
        where id = ${ownerId} and exists (select 1 from f)`);
    });
  }
}
