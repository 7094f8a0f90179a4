/**
 * What a critical key, override or hint names, and how it matches a write. The data path asks by
 * owner and file name; the API accepts a file id (resolved through the catalog to that owner's
 * name), a name (any owner's file of that name) or a prefix ending in '*'. An id shaped like a
 * file id that names no file is refused (404) rather than stored to protect nothing.
 */
import { eq } from 'drizzle-orm';
import type { Db } from '../catalog/db.js';
import { files } from '../catalog/schema.js';
import { NotFound } from '../errors.js';

/** The owner and name of a file (the catalog); undefined when no file has this id. */
export interface FileOwners {
  lookup(fileId: string): Promise<{ ownerId: string; name: string } | undefined>;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const isFileId = (id: string): boolean => UUID_RE.test(id);

export function catalogOwners(db: Db): FileOwners {
  return {
    async lookup(fileId) {
      if (!isFileId(fileId)) return undefined;
      const [row] = await db.select({ ownerId: files.ownerId, name: files.name }).from(files).where(eq(files.id, fileId)).limit(1);
      return row;
    },
  };
}

/** How the data path's (owner, name) pair is keyed in hints, overrides and critical keys. */
export function objectKey(ownerId: string, name: string): string {
  return `${ownerId}/${name}`;
}

/** What a stored key protects, as the API answers it. */
export interface Protects {
  /** The key stored and matched (a file id is stored as '<owner id>/<name>'). */
  key: string;
  /** The file id given, or null when a name or prefix was given. */
  file_id: string | null;
  /** The owner whose file is meant, or null: a bare name or prefix matches every owner's files. */
  owner_id: string | null;
  /** The file name, or the prefix without its '*'. */
  name: string;
  /** True when every name starting with `name` matches. */
  prefix: boolean;
}

export interface Target {
  protects: Protects;
  /** The file's owner, when a file id was given. */
  ownerId?: string;
}

/**
 * Resolve what the API was given. A file id is looked up (unknown → 404 `file_not_found`); anything
 * else is kept as a name or prefix.
 */
export async function resolveTarget(owners: FileOwners | undefined, id: string): Promise<Target> {
  if (isFileId(id)) {
    const file = owners ? await owners.lookup(id) : undefined;
    if (!file) throw new NotFound(`No file with id '${id}': a file id must name an existing file.`, 'file_not_found');
    const key = objectKey(file.ownerId, file.name);
    return { protects: { key, file_id: id, owner_id: file.ownerId, name: file.name, prefix: false }, ownerId: file.ownerId };
  }
  const prefix = id.endsWith('*');
  const bare = prefix ? id.slice(0, -1) : id;
  // '<owner id>/<name>' is how the data path keys one owner's file.
  const slash = bare.indexOf('/');
  const owner = slash === 36 && isFileId(bare.slice(0, 36)) ? bare.slice(0, 36) : null;
  return { protects: { key: id, file_id: null, owner_id: owner, name: owner ? bare.slice(37) : bare, prefix } };
}

/** A critical key matches the object id exactly, or as a prefix when it ends with '*'. */
export function isCritical(keys: ReadonlyMap<string, unknown>, objectId: string): boolean {
  if (keys.size === 0) return false;
  if (keys.has(objectId)) return true;
  for (const k of keys.keys()) if (k.endsWith('*') && objectId.startsWith(k.slice(0, -1))) return true;
  return false;
}
