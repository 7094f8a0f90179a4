/**
 * The catalog statements of editing a file in place: renaming it, reading the chunk list of one of
 * its versions (to make that version current again), and deleting a file in the bin for good.
 * Business rules (name validation, quota, which file may be edited) stay in shared/storage/.
 */
import { and, asc, eq, inArray, isNotNull, isNull, ne } from 'drizzle-orm';
import { Conflict, NotFound } from '../errors.js';
import type { Db } from './db.js';
import { files, fileVersions, users, versionChunks } from './schema.js';

/** True when the error is the unique index that keeps live names distinct per owner. */
export function isNameClash(err: unknown): boolean {
  const text = (e: unknown): string => (e instanceof Error ? `${e.message} ${text((e as { cause?: unknown }).cause)}` : '');
  const code = (err as { code?: unknown; cause?: { code?: unknown } } | undefined)?.cause?.code ?? (err as { code?: unknown } | undefined)?.code;
  return code === '23505' || /files_owner_name_live_key|unique/i.test(text(err));
}

export class FileEditsRepository {
  constructor(private readonly db: Db) {}

  /**
   * Rename the owner's live file, under the owner's row lock (which serialises commits, deletes and
   * restores, so the name check cannot race). Throws NotFound when the file is not live and
   * Conflict `name_taken` when another live file has the name.
   */
  async rename(ownerId: string, fileId: string, name: string, now: Date): Promise<void> {
    const taken = () => new Conflict(`A file named '${name}' exists already; choose another name, or rename or delete that file first.`, 'name_taken');
    try {
      await this.db.transaction(async (tx) => {
        await tx.select({ id: users.id }).from(users).where(eq(users.id, ownerId)).for('update');
        const [f] = await tx.select({ id: files.id }).from(files).where(and(eq(files.id, fileId), eq(files.ownerId, ownerId), isNull(files.deletedAt)));
        if (!f) throw new NotFound('No such file.', 'file_not_found');
        const [clash] = await tx
          .select({ id: files.id })
          .from(files)
          .where(and(eq(files.ownerId, ownerId), eq(files.name, name), isNull(files.deletedAt), ne(files.id, fileId)));
        if (clash) throw taken();
        await tx.update(files).set({ name, updatedAt: now }).where(eq(files.id, fileId));
      });
    } catch (err) {
      if (!(err instanceof Conflict) && !(err instanceof NotFound) && isNameClash(err)) throw taken();
      throw err;
    }
  }

  /** The chunks of one version in file order. */
  versionChunks(versionId: string): Promise<{ hash: string; size: number }[]> {
    return this.db
      .select({ hash: versionChunks.chunkHash, size: versionChunks.size })
      .from(versionChunks)
      .where(eq(versionChunks.versionId, versionId))
      .orderBy(asc(versionChunks.idx));
  }

  /**
   * Delete a file in the bin for good, with every version and manifest, in one transaction. Its
   * chunks become unreferenced and garbage collection removes them from the replicas after its
   * grace period. Files in the bin do not count against the quota, so usage is unchanged.
   * Returns false when the owner has no such file in the bin.
   */
  async purgeDeleted(ownerId: string, fileId: string): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      await tx.select({ id: users.id }).from(users).where(eq(users.id, ownerId)).for('update');
      const [f] = await tx.select({ id: files.id }).from(files).where(and(eq(files.id, fileId), eq(files.ownerId, ownerId), isNotNull(files.deletedAt))).for('update');
      if (!f) return false;
      const versions = await tx.select({ id: fileVersions.id }).from(fileVersions).where(eq(fileVersions.fileId, fileId));
      const ids = versions.map((v) => v.id);
      if (ids.length > 0) {
        await tx.delete(versionChunks).where(inArray(versionChunks.versionId, ids));
        await tx.delete(fileVersions).where(inArray(fileVersions.id, ids));
      }
      await tx.delete(files).where(eq(files.id, fileId));
      return true;
    });
  }
}
